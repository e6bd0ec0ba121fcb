"""Stage 0: vision pretraining, so that the model later taught to reason already sees.

The paper starts from Qwen2-VL, pretrained on large image-text corpora; a tiny model made
here starts from random weights and would have to learn vision, language and the task at once
from a few thousand reasoning examples (and does not, in minutes). This stage is the analogue of
the pretrained base: the vision tower and its merger learn the CheXpert findings of the training
images through a linear probe on their pooled output (multi-label, masked binary cross-entropy),
with the labels the benchmark's own training items state (`image_labels`). The language model is
not touched; the probe's head is saved beside the model (`vision_probe.safetensors`, its
columns in the card) so that what the tower sees can be read again without the language model.

Only `train`-split items are read: an item of another split is skipped and counted, so no test
image can shape the base model. A seeded share of the training images is held out to say how
well the base sees (per-finding AUC) without touching the test split.

Training is Transformers' `Trainer` on a small wrapper module, for its checkpoints, `--resume`,
seeding and device placement; the saved folder is an ordinary checkpoint (`hf:OUT`).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

from chestx_reasoner.bench.sample import FINDINGS, PATHOLOGIES, answer_option
from chestx_reasoner.jsonl import RecordError
from chestx_reasoner.mining.columns import option_columns  # the miner's reading of option text
from chestx_reasoner.train.data import Item, read_items

log = logging.getLogger(__name__)

NO_FINDING = "No Finding"
LABEL_COLUMNS = (*FINDINGS, NO_FINDING)
PROBE_FILE = "vision_probe.safetensors"
CARD = "chestx_vision.json"  # written last: the run finished and saved


def item_labels(fields: dict[str, Any]) -> dict[str, bool]:
    """What an item's gold answer says of its (current) image, column -> present.

    >>> item_labels({"task": "binary", "finding": "Edema", "options": ["Yes", "No"],
    ...              "answer": "B"})
    {'Edema': False}
    >>> labels = item_labels({"task": "multi_open", "options": [], "answer": "edema"})
    >>> labels["Edema"], labels["Pneumothorax"], labels["No Finding"]
    (True, False, False)
    >>> item_labels({"task": "single", "options": ["edema", "pneumothorax"], "answer": "B"})
    {'Pneumothorax': True, 'Edema': False}
    """
    task, chosen = str(fields.get("task") or ""), answer_option(fields)
    options = [str(o) for o in fields.get("options") or []]
    if task == "binary" and chosen is not None:
        columns = option_columns(str(fields.get("finding") or ""))
        return {columns[0]: chosen.strip().lower() == "yes"} if columns else {}
    if task == "anomaly" and chosen is not None:
        if chosen.strip().lower() == "normal":
            return {**dict.fromkeys(PATHOLOGIES, False), NO_FINDING: True}
        return {NO_FINDING: False}
    if task == "multi_open":
        present = set(option_columns(str(fields.get("answer") or "")))
        labels = {column: column in present for column in FINDINGS}
        return {**labels, NO_FINDING: not present & set(PATHOLOGIES)}
    if task in {"single", "multi"} and chosen is not None:
        present = set(option_columns(chosen))
        others = {c for option in options for c in option_columns(option)} - present
        return {**dict.fromkeys(sorted(present), True), **dict.fromkeys(sorted(others), False)}
    return {}  # temporal items say how a finding changed, not whether it is there


def image_labels(items: Sequence[Item]) -> tuple[dict[str, dict[str, bool]], int]:
    """Per image file, the labels all its items agree on; and how many labels conflicted
    (dropped: two items of one image that disagree teach nothing)."""
    labels: dict[str, dict[str, bool]] = {}
    conflicts: dict[str, set[str]] = {}
    for item in items:
        image = item.image_paths[-1]
        mine, bad = labels.setdefault(image, {}), conflicts.setdefault(image, set())
        for column, value in item_labels(item.fields).items():
            if mine.setdefault(column, value) != value:
                bad.add(column)
    for image, bad in conflicts.items():
        for column in bad:
            labels[image].pop(column, None)
    return {image: found for image, found in labels.items() if found}, sum(map(len,
                                                                              conflicts.values()))


@dataclass(frozen=True)
class VisionConfig:
    """How the vision tower is pretrained (defaults: the demo's tiny model on a CPU)."""

    output_dir: str
    max_steps: int = 500
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    holdout: float = 0.1     # share of training images kept out to measure the probe
    seed: int = 0
    save_steps: int = 100
    image_root: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.holdout < 1.0:
            raise ValueError(f"holdout must be in [0, 1), got {self.holdout}")


@dataclass(slots=True)
class VisionResult:
    """What a run did; shaped like `TrainResult` (`data.describe()`) for the CLI's printer."""

    out: Path
    global_step: int
    images: int
    holdout_auc: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    log_history: list[dict[str, Any]] = field(default_factory=list)
    resumed_from: str | None = None
    finished_before: bool = False

    @property
    def data(self) -> VisionResult:
        return self

    @property
    def mean_auc(self) -> float | None:
        values = list(self.holdout_auc.values())
        return sum(values) / len(values) if values else None

    def describe(self) -> str:
        auc = f"; held-out mean AUC {self.mean_auc:.3f}" if self.mean_auc is not None else ""
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items()) if n)
        return (f"{self.global_step} steps on {self.images} training images{auc}"
                + (f"; skipped {skipped}" if skipped else ""))


def auc(labels: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve (ties count half); None when one class is missing.

    >>> auc([True, False, True, False], [0.9, 0.1, 0.4, 0.4])
    0.875
    """
    # The Mann-Whitney statistic from ranks (tied scores share their mean rank): O(n log n),
    # where comparing every positive with every negative is quadratic in a held-out set of a
    # real corpus's thousands of images. Written here: no scikit-learn or SciPy dependency.
    n_pos = sum(bool(y) for y in labels)
    n_neg = len(labels) - n_pos
    if not n_pos or not n_neg:
        return None
    ranked = sorted(zip(scores, labels, strict=True), key=lambda pair: pair[0])
    positive_ranks, start = 0.0, 0
    for _, tied in groupby(ranked, key=lambda pair: pair[0]):
        group = list(tied)
        mean_rank = start + (len(group) + 1) / 2
        positive_ranks += mean_rank * sum(bool(y) for _, y in group)
        start += len(group)
    return (positive_ranks - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def split_images(images: Sequence[str], share: float, seed: int) -> tuple[list[str], list[str]]:
    """(train, held-out) image files, a seeded share held out (by file, so stable)."""
    ordered = sorted(images)
    random.Random(seed).shuffle(ordered)
    n_out = round(share * len(ordered)) if len(ordered) > 10 else 0
    return sorted(ordered[n_out:]), sorted(ordered[:n_out])


# --- the model and its data (torch is imported here, not at module load) --------------------


def _probe_module(visual: Any, hidden: int, merge: int) -> Any:
    """The vision tower with a linear multi-label head on its mean-pooled merged tokens: what
    the language model will read, pooled, must name the findings."""
    import torch
    from torch import nn

    class VisionProbe(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.visual = visual
            self.head = nn.Linear(hidden, len(LABEL_COLUMNS))

        def forward(self, pixel_values: Any, image_grid_thw: Any, labels: Any = None,
                    label_mask: Any = None) -> dict[str, Any]:
            tokens = self.visual(pixel_values, grid_thw=image_grid_thw).pooler_output
            sizes = (image_grid_thw.prod(-1) // merge ** 2).tolist()
            logits = self.head(torch.stack([part.mean(0) for part in tokens.split(sizes)]))
            out = {"logits": logits}
            if labels is not None:
                losses = nn.functional.binary_cross_entropy_with_logits(
                    logits, labels, reduction="none") * label_mask
                out["loss"] = losses.sum() / label_mask.sum().clamp(min=1.0)
            return out

    return VisionProbe()


def _examples(processor: Any, images: Sequence[str], labels: dict[str, dict[str, bool]]
              ) -> Any:
    """A torch Dataset of (pixels, grid, labels, mask) per image, decoded when drawn."""
    import torch

    from chestx_reasoner.models.images import load_image

    class Images(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(images)

        def __getitem__(self, index: int) -> dict[str, Any]:
            image = images[index]
            found = processor.image_processor(images=[load_image(image)], return_tensors="pt")
            known = labels[image]
            return {"pixel_values": found["pixel_values"],
                    "image_grid_thw": found["image_grid_thw"][0],
                    "labels": torch.tensor([float(known.get(c, False)) for c in LABEL_COLUMNS]),
                    "label_mask": torch.tensor([float(c in known) for c in LABEL_COLUMNS])}

    return Images()


def _collate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    import torch

    return {"pixel_values": torch.cat([r["pixel_values"] for r in rows]),
            **{key: torch.stack([r[key] for r in rows])
               for key in ("image_grid_thw", "labels", "label_mask")}}


def _holdout_auc(probe: Any, dataset: Any, batch_size: int) -> dict[str, float]:
    """Per-column AUC of the probe on the held-out images (columns with both classes)."""
    import torch

    probe.eval()
    scores, labels, masks = [], [], []
    with torch.no_grad():
        device = next(probe.parameters()).device
        for start in range(0, len(dataset), batch_size):
            batch = _collate([dataset[i] for i in range(start, min(start + batch_size,
                                                                     len(dataset)))])
            logits = probe(batch["pixel_values"].to(device),
                           batch["image_grid_thw"].to(device))["logits"]
            scores += logits.cpu().tolist()
            labels += batch["labels"].tolist()
            masks += batch["label_mask"].tolist()
    out = {}
    for j, column in enumerate(LABEL_COLUMNS):
        rows = [(y[j] > 0.5, s[j]) for y, s, m in zip(labels, scores, masks, strict=True)
                if m[j]]
        value = auc([y for y, _ in rows], [s for _, s in rows]) if rows else None
        if value is not None:
            out[column] = round(value, 4)
    return out


def training_images(data: Path, image_root: Path | None) -> tuple[dict[str, dict[str, bool]],
                                                                   dict[str, int]]:
    """Labels per training image of a benchmark/mined file, and what was skipped and why."""
    items, skipped = read_items(data, image_root)
    train = [item for item in items if str(item.fields.get("split") or "train") == "train"]
    labels, conflicts = image_labels(train)
    counts = {**skipped, "items of another split": len(items) - len(train),
              "conflicting labels": conflicts}
    if not labels:
        raise RecordError(f"{data}: no training image with a finding label (binary, anomaly, "
                          "single, multi or multi_open items of the train split) (--data)")
    return labels, counts


def finished(out: Path) -> VisionResult | None:
    """The result of a run that already saved OUT (its card is written last), else None."""
    try:
        card = json.loads((out / CARD).read_text(encoding="utf-8"))
        return VisionResult(out, int(card["global_step"]), int(card["images"]),
                            dict(card["holdout_auc"]), dict(card["skipped"]),
                            finished_before=True)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run_vision_pretrain(data: Path, model_spec: str, config: VisionConfig, *,
                        resume: bool = False, callbacks: list[Any] | None = None
                        ) -> VisionResult:
    """Pretrain the vision tower of `model_spec` on `data`'s training images; save the whole
    model to `config.output_dir` (loads as hf:OUT) with the probe head and a card saying how
    well it sees. `resume` goes on from OUT's last checkpoint, or returns a finished run."""
    import torch
    from safetensors.torch import save_file
    from transformers import Trainer, TrainingArguments

    from chestx_reasoner.train.guard import check_out, save_errors
    from chestx_reasoner.train.sft import (
        add_callbacks,
        checkpoint_to_resume,
        load_trainable,
        vision_tower,
    )

    out = Path(config.output_dir)
    check_out(out, model_spec)
    if resume and (done := finished(out)) is not None and done.global_step >= config.max_steps:
        return done
    last = checkpoint_to_resume(out, resume)
    (out / CARD).unlink(missing_ok=True)  # a run in progress is not a finished one
    labels, skipped = training_images(data, Path(config.image_root) if config.image_root
                                      else None)
    fit, held = split_images(list(labels), config.holdout, config.seed)
    model, processor = load_trainable(model_spec)
    visual = vision_tower(model, "chestx train vision")
    probe = _probe_module(visual, model.config.text_config.hidden_size,
                          model.config.vision_config.spatial_merge_size)
    # On resume the Trainer restores this plain module's weights by their own names (the
    # Qwen2-VL key renaming that `sft.restore_weights` works around does not apply).
    args = TrainingArguments(
        output_dir=str(out), max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size, learning_rate=config.learning_rate,
        weight_decay=config.weight_decay, lr_scheduler_type="cosine", warmup_steps=0,
        logging_steps=10, save_steps=config.save_steps, save_total_limit=2, seed=config.seed,
        data_seed=config.seed, report_to="none", remove_unused_columns=False,
        use_cpu=not torch.cuda.is_available(), dataloader_pin_memory=False)
    trainer = Trainer(model=probe, args=args, train_dataset=_examples(processor, fit, labels),
                      data_collator=_collate)
    add_callbacks(trainer, callbacks)
    with save_errors(out):
        trainer.train(resume_from_checkpoint=last)
        held_auc = _holdout_auc(probe, _examples(processor, held, labels), config.batch_size)
        model.save_pretrained(out)
        processor.save_pretrained(out)
        save_file({k: v.detach().cpu().contiguous() for k, v in probe.head.state_dict().items()},
                  str(out / PROBE_FILE))
        history = trainer.state.log_history
        (out / "log_history.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
        result = VisionResult(out, trainer.state.global_step, len(fit), held_auc, skipped,
                              list(history), last)
        card = {"made_by": "chestx train vision", "base_model": model_spec, "data": str(data),
                "columns": list(LABEL_COLUMNS), "images": len(fit), "held_out_images": len(held),
                "holdout_auc": held_auc, "mean_holdout_auc": result.mean_auc,
                "global_step": result.global_step, "config": asdict(config), "skipped": skipped}
        (out / CARD).write_text(json.dumps(card, indent=2) + "\n")
    return result
