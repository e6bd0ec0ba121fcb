"""How much of the findings a benchmark's images carry at a given resolution: per-label AUC on
the test split of an L2 logistic regression on raw pixels, fit on the train split.

    python benchmarks/image_signal.py --bench demo-out/bench [--sides 28 56 112] [--l2 1.0]

The labels are what the vision pretraining trains on (`train.vision.image_labels`: what each
image's items' gold answers state). A linear reader of pixels is the floor a vision tower
should reach; the tiny model's image side (`models/tiny_build.py`) was chosen from this table:
on the demo cohort (1,000 studies, seed 0) the mean AUC was 0.82 / 0.82 / 0.81 at 28 / 56 /
112 px. Logistic regression is fit here with torch's L-BFGS: no scikit-learn in the project.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    import chestx_reasoner  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np
import torch

from chestx_reasoner.models.images import load_image
from chestx_reasoner.train.data import read_items
from chestx_reasoner.train.vision import LABEL_COLUMNS, auc, image_labels


def labels_of(path: Path) -> dict[str, dict[str, bool]]:
    items, _ = read_items(path)
    return image_labels(items)[0]


def pixels(images: list[str], side: int) -> torch.Tensor:
    return torch.tensor(np.stack([
        np.asarray(load_image(image).convert("L").resize((side, side)), np.float32).ravel() / 255
        for image in images]))


def fit(x: torch.Tensor, y: torch.Tensor, l2: float) -> tuple[torch.Tensor, torch.Tensor]:
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([w, b], max_iter=200)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ w + b, y)
        loss = loss + l2 * w.pow(2).sum() / len(y)
        loss.backward()
        return loss

    optimizer.step(closure)
    return w.detach(), b.detach()


def signal(train: dict[str, dict[str, bool]], test: dict[str, dict[str, bool]], side: int,
           l2: float, min_train: int = 20) -> dict[str, float]:
    """Per-label test AUC of the pixel probe at `side` px (labels with both classes)."""
    train_images, test_images = list(train), list(test)
    x_train, x_test = pixels(train_images, side), pixels(test_images, side)
    mean, std = x_train.mean(0), x_train.std(0) + 1e-3
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    out = {}
    for column in LABEL_COLUMNS:
        rows = [(i, train[image][column]) for i, image in enumerate(train_images)
                if column in train[image]]
        held = [(i, test[image][column]) for i, image in enumerate(test_images)
                if column in test[image]]
        if len(rows) < min_train or not held:
            continue
        w, b = fit(x_train[[i for i, _ in rows]], torch.tensor([float(v) for _, v in rows]), l2)
        scores = (x_test[[i for i, _ in held]] @ w + b).tolist()
        value = auc([v for _, v in held], scores)
        if value is not None:
            out[column] = value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path, default=Path("demo-out/bench"),
                        help="folder with train.jsonl and test.jsonl (chestx build's output)")
    parser.add_argument("--sides", type=int, nargs="+", default=[28, 56, 112])
    parser.add_argument("--l2", type=float, default=1.0)
    args = parser.parse_args()
    for split in ("train", "test"):
        if not (args.bench / f"{split}.jsonl").exists():
            sys.exit(f"image_signal: {args.bench / f'{split}.jsonl'} not found (--bench: a "
                     "chestx build folder, e.g. demo-out/bench after make demo)")
    train, test = labels_of(args.bench / "train.jsonl"), labels_of(args.bench / "test.jsonl")
    print(f"{len(train)} train and {len(test)} test images with a label")
    results = {side: signal(train, test, side, args.l2) for side in args.sides}
    columns = [c for c in LABEL_COLUMNS if any(c in r for r in results.values())]
    print(f"| label | {' | '.join(f'{side} px' for side in args.sides)} |")
    print(f"|---|{'---|' * len(args.sides)}")
    for column in columns:
        cells = [f"{results[side][column]:.3f}" if column in results[side] else "-"
                 for side in args.sides]
        print(f"| {column} | {' | '.join(cells)} |")
    means = [sum(r.values()) / len(r) if r else float("nan") for r in results.values()]
    print(f"| **mean** | {' | '.join(f'{m:.3f}' for m in means)} |")


if __name__ == "__main__":
    main()
