"""Export a built benchmark as Parquet files or a Hugging Face `datasets` folder.

Images are embedded as bytes (a `List(Image())` column named `images`; the relative paths stay
in `image_paths`), so both exports are self-contained and `images` loads as PIL images:

    from datasets import load_from_disk
    load_from_disk("BENCH/hf")["test"][0]["images"][0]      # a PIL image
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FORMATS = ("jsonl", "parquet", "hf")


def _features() -> Any:
    from datasets import Features, Image, List, Value

    text = Value("string")
    return Features({
        "id": text, "source": text, "task": text, "split": text, "images": List(Image()),
        "image_paths": List(text), "question": text, "options": List(text), "answer": text,
        "report": text, "reasoning": List(text), "patient_id": text, "study_id": text,
        "finding": text,
    })


def _rows(bench: Path, split: str) -> Iterator[dict[str, Any]]:
    with open(bench / f"{split}.jsonl", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            paths = record["images"]
            yield {
                **{key: record.get(key) for key in ("id", "source", "task", "split",
                                                    "question", "answer", "report",
                                                    "patient_id", "study_id", "finding")},
                "options": record.get("options") or [],
                "reasoning": record.get("reasoning") or [],
                "image_paths": paths,
                "images": [{"bytes": (bench / p).read_bytes(), "path": p} for p in paths],
            }


def export_benchmark(bench: str | Path, formats: list[str],
                     splits: tuple[str, ...] = ("train", "test")) -> list[Path]:
    """Write the requested formats beside the JSONL files; returns the paths written."""
    import datasets

    bench = Path(bench)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"--format {unknown[0]!r}: choose from {', '.join(FORMATS)}")
    wanted = [f for f in formats if f != "jsonl"]
    if not wanted:
        return []
    datasets.disable_progress_bars()
    written: list[Path] = []
    with tempfile.TemporaryDirectory(dir=bench, prefix=".export-") as cache:
        parts = {
            split: datasets.Dataset.from_generator(
                _rows, gen_kwargs={"bench": bench, "split": split}, features=_features(),
                cache_dir=cache, split=datasets.Split(split))
            for split in splits if (bench / f"{split}.jsonl").exists()
        }
        if "parquet" in wanted:
            for split, part in parts.items():
                path = bench / f"{split}.parquet"
                part.to_parquet(str(path))
                written.append(path)
        if "hf" in wanted:
            target = bench / "hf"
            staging = bench / ".hf-staging"
            shutil.rmtree(staging, ignore_errors=True)
            datasets.DatasetDict(parts).save_to_disk(str(staging))
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
            written.append(target)
    return written


def write_split_parquet(bench: str | Path, split: str, path: Path) -> Path:
    """One split as one self-contained Parquet file at `path` (written beside it, then moved
    into place), for tools that read a single file, such as an lmms-eval task."""
    import datasets

    bench = Path(bench)
    datasets.disable_progress_bars()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".export-") as cache:
        part = datasets.Dataset.from_generator(
            _rows, gen_kwargs={"bench": bench, "split": split}, features=_features(),
            cache_dir=cache, split=datasets.Split(split))
        staging = Path(cache) / path.name
        part.to_parquet(str(staging))
        shutil.move(str(staging), path)
    return path
