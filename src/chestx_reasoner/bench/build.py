"""Build a RadRBench-CXR benchmark: studies from one or more sources -> items of every task.

    BENCH/train.jsonl, BENCH/test.jsonl   Sample records (docs/design.md)
    BENCH/images/<source>/...            the items' images (linked or copied; DICOM -> PNG)
    BENCH/manifest.json                  sources, skipped studies, dropped items (image missing,
                                         duplicates across sources), counts, seed, version
    BENCH/{train,test}.parquet | BENCH/hf  with --format parquet | hf (see `export.py`)

Splits are by patient: a patient's studies all land in one split (the release's own test
split where it has one, else a seeded hash of the patient id).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chestx_reasoner import __version__
from chestx_reasoner.bench.sample import BENCH_VERSION, UNCERTAIN_POLICIES, LabelReader, Sample
from chestx_reasoner.bench.tasks import TASKS, Draft, TaskContext
from chestx_reasoner.data.sources import SOURCES, SourceAdapter
from chestx_reasoner.data.study import Study, StudyImage
from chestx_reasoner.jsonl import write_atomic

SPLITS = ("train", "test")
IMAGE_MODES = ("link", "copy")


@dataclass(frozen=True, slots=True)
class SourceSpec:
    name: str
    root: Path
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BuildConfig:
    tasks: tuple[str, ...] = ("binary", "single", "multi", "multi_open", "anomaly", "temporal")
    per_finding: int = 200
    per_task: int | None = None
    seed: int = 0
    uncertain: str = "ignore"
    test_fraction: float = 0.2
    images: str = "link"

    def __post_init__(self) -> None:
        for task in self.tasks:
            TASKS.get(task)  # unknown names fail here, with a suggestion
        if self.uncertain not in UNCERTAIN_POLICIES:
            raise ValueError(f"--uncertain {self.uncertain!r}: choose one of "
                             f"{', '.join(UNCERTAIN_POLICIES)}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"--test-fraction {self.test_fraction}: must be between 0 and 1")
        if self.images not in IMAGE_MODES:
            raise ValueError(f"--images {self.images!r}: choose one of {', '.join(IMAGE_MODES)}")


def patient_split(source: str, studies: list[Study], seed: int, test_fraction: float,
                  ) -> dict[str, str]:
    """patient id -> train | test, one split per patient.

    The release's split decides where it has a test split (a patient with any test study is
    test; `validate` counts as train); otherwise a seeded hash of the patient id.
    """
    official: dict[str, set[str]] = {}
    for study in studies:
        official.setdefault(study.patient_id, set()).add(study.split or "")
    # A release without a test split (CheXpert Plus ships train/valid) is split by hash.
    has_test = any("test" in splits for splits in official.values())
    out = {}
    for patient, splits in official.items():
        if has_test and splits - {""}:
            out[patient] = "test" if "test" in splits else "train"
        else:
            digest = hashlib.sha256(f"{seed}:{source}:{patient}".encode()).digest()
            out[patient] = "test" if int.from_bytes(digest[:8]) / 2**64 < test_fraction \
                else "train"
    return out


class _ImageExporter:
    """Places source images under BENCH/images/<source>/, once each (link, copy or DICOM->PNG)."""

    def __init__(self, bench: Path, mode: str) -> None:
        self.bench, self.mode = bench, mode
        self.done: dict[Path, str | None] = {}

    def place(self, source: SourceAdapter, image: StudyImage) -> str | None:
        if image.path in self.done:
            return self.done[image.path]
        try:
            relative = image.path.relative_to(source.root)
        except ValueError:
            relative = Path(image.path.name)
        if image.path.suffix.lower() == ".dcm":
            relative = relative.with_suffix(".png")
        target = self.bench / "images" / source.name / relative
        result: str | None = str(target.relative_to(self.bench))
        if not image.path.exists():
            result = None
        elif not target.exists():
            if target.is_symlink():  # left dangling by a moved source: point it anew
                target.unlink()
            target.parent.mkdir(parents=True, exist_ok=True)
            if image.path.suffix.lower() == ".dcm":
                from chestx_reasoner.data.dicom import dicom_to_png

                dicom_to_png(image.path, target)
            elif self.mode == "copy":
                shutil.copyfile(image.path, target)
            else:
                os.symlink(image.path.resolve(), target)
        self.done[image.path] = result
        return result


# What a build writes into its folder; a rebuild clears these first, so no stale Parquet or
# `hf` copy of the earlier items is left beside the new JSONL.
BUILD_OUTPUTS = ("train.jsonl", "test.jsonl", "manifest.json", "images", "train.parquet",
                 "test.parquet", "hf")


def clear_build_folder(out: Path, sources: list[SourceSpec], overwrite: bool = False) -> None:
    """Empty `out` of an earlier build's outputs; anything else in it (mined chains,
    predictions made from the earlier items) is refused unless `overwrite`, which deletes it
    too. A folder holding a source's own files is never emptied."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ValueError(f"{out}: exists and is not a folder (--out)")
    for spec in sources:
        root = Path(spec.root).resolve()
        if root == out.resolve() or out.resolve() in root.parents:
            raise ValueError(f"--out {out} holds the source {spec.root}; choose another --out")
    others = sorted(p.name for p in out.iterdir()
                    if p.name not in BUILD_OUTPUTS and not p.name.startswith(".export-"))
    if others and not overwrite:
        shown = ", ".join(others[:3]) + (", …" if len(others) > 3 else "")
        raise ValueError(f"{out} holds files that are not this build's ({shown}): made from "
                         "an earlier benchmark, they would no longer match it; pass "
                         "--overwrite to delete them or choose another --out")
    for path in out.iterdir():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def build_benchmark(sources: list[SourceSpec], out: str | Path, config: BuildConfig,
                    progress: Callable[[str], None] | None = None,
                    overwrite: bool = False) -> dict[str, Any]:
    """Read every source, build the items, write the benchmark; returns the manifest.

    A folder with an earlier build is cleared first (`clear_build_folder`). An item two sources
    over one release give (a study MS-CXR-T re-reads from MIMIC-CXR) is kept once
    (`drop_duplicates`)."""
    out = Path(out)
    clear_build_folder(out, sources, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    exporter = _ImageExporter(out, config.images)
    built: list[tuple[SourceAdapter, dict[str, list[Sample]]]] = []
    source_records = []
    twice = [n for n, k in Counter(spec.name for spec in sources).items() if k > 1]
    if twice:
        raise ValueError(f"source {twice[0]!r} given twice: item and patient ids would clash")
    for spec in sources:
        adapter = SOURCES.get(spec.name)(spec.root, **spec.options)
        if progress:
            progress(f"reading {spec.name} from {spec.root}")
        studies = sorted(adapter.studies(), key=lambda s: (s.patient_id, s.date or "",
                                                            s.study_id))
        # Hashed on the release, so a patient two sources over it share lands in one split.
        splits = patient_split(adapter.study_ids or spec.name, studies, config.seed,
                               config.test_fraction)
        missing: Counter[str] = Counter()
        mine: dict[str, list[Sample]] = {split: [] for split in SPLITS}
        for split in SPLITS:
            subset = [s for s in studies if splits[s.patient_id] == split]
            for task in config.tasks:
                if progress:
                    progress(f"{spec.name}: {task} ({split})")
                ctx = TaskContext(
                    rng=random.Random(f"{config.seed}:{spec.name}:{task}:{split}"),
                    labels=LabelReader(config.uncertain, blank_is_absent=adapter.has_reports),
                    per_finding=config.per_finding, per_task=config.per_task)
                for draft in TASKS.get(task)(subset, ctx):
                    sample = _to_sample(draft, adapter, split, exporter)
                    if sample is None:
                        missing["image file missing"] += 1
                    else:
                        mine[split].append(sample)
        built.append((adapter, mine))
        source_records.append({
            "name": spec.name, "root": str(spec.root), "studies": len(studies),
            "patients": len(splits), "skipped": dict(adapter.skipped), "items_dropped":
            missing, "test_patients": sum(v == "test" for v in splits.values())})
    duplicates = drop_duplicates(built, source_records)
    samples = {split: [s for _, mine in built for s in mine[split]] for split in SPLITS}
    for record in source_records:
        record["items_dropped"] = dict(record["items_dropped"])
    for split in SPLITS:
        lines = "".join(json.dumps(s.to_dict(), ensure_ascii=False) + "\n"
                        for s in samples[split])
        write_atomic(out / f"{split}.jsonl", lines)
    manifest = {
        "benchmark": "RadRBench-CXR (chestx-reasoner)", "version": BENCH_VERSION,
        "chestx_reasoner": __version__, "seed": config.seed, "tasks": list(config.tasks),
        "per_finding": config.per_finding, "per_task": config.per_task,
        "uncertain": config.uncertain, "test_fraction": config.test_fraction,
        "images": config.images, "sources": source_records, "duplicates_dropped": duplicates,
        "counts": {split: dict(Counter(s.task for s in samples[split])) for split in SPLITS},
    }
    write_atomic(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest


def drop_duplicates(built: list[tuple[SourceAdapter, dict[str, list[Sample]]]],
                    records: list[dict[str, Any]]) -> int:
    """Keep once an item (same study, task and question) that two sources over one release
    give, e.g. a MIMIC-CXR study that MS-CXR-T re-reads; returns how many were dropped, each
    counted in its source's `items_dropped`.

    Which copy wins: the release's own source (mimic-cxr) over one that re-reads a subset of
    it (ms-cxr-t), whatever their order on the command line, because the release's copy is the
    whole study (every view, the release's labels and split) while the subset keeps what only
    it has (its temporal items with progression labels), which are no duplicates. Between two
    sources of equal standing the one given first wins.
    """
    def release(adapter: SourceAdapter) -> str:
        return adapter.study_ids or adapter.name

    order = sorted(range(len(built)), key=lambda i: (
        release(built[i][0]) != built[i][0].name, i))
    owner: dict[tuple[str, str, str, str], str] = {}
    dropped = 0
    for i in order:
        adapter, mine = built[i]
        for split in SPLITS:
            kept = []
            for sample in mine[split]:
                key = (release(adapter), sample.study_id or sample.id, sample.task,
                       sample.question)
                winner = owner.setdefault(key, adapter.name)
                if winner == adapter.name:
                    kept.append(sample)
                else:
                    records[i]["items_dropped"][f"duplicate of a {winner} item"] += 1
                    dropped += 1
            mine[split] = kept
    return dropped


def _to_sample(draft: Draft, adapter: SourceAdapter, split: str,
               exporter: _ImageExporter) -> Sample | None:
    images = [exporter.place(adapter, image) for image in draft.images]
    if any(path is None for path in images):
        return None
    study = draft.study
    suffix = f"-{draft.suffix}" if draft.suffix else ""
    return Sample(
        id=f"{adapter.name}-{draft.task}-{study.study_id}{suffix}", source=adapter.name,
        task=draft.task, split=split, images=images,  # type: ignore[arg-type]
        question=draft.question, options=draft.options, answer=draft.answer,
        report=draft.report, patient_id=f"{adapter.name}:{study.patient_id}",
        study_id=study.study_id, finding=draft.finding)

