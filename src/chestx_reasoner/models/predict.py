"""`chestx predict`: stream a benchmark through a model and write Prediction records, resumably.

Each output line is the Sample plus `prediction` (the raw output) and `model`. Records are
appended one complete line at a time (`jsonl.ResumableWriter`), so after a crash or kill -9 a
rerun skips the ids already written and no item is predicted twice or lost. Items whose image is
missing or unreadable are skipped with a count and a one-line warning, never a crash; an item the
model gave no output for (an API failure after retries) is left for the next run.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from chestx_reasoner.bench.sample import sample_problem
from chestx_reasoner.jsonl import RecordError, ResumableWriter, batched, read_checked, unique_ids
from chestx_reasoner.models.base import GenerationSettings, ModelAdapter, PreparedItem
from chestx_reasoner.models.images import (
    ImageReadError,
    check_image,
    load_image,
    missing_images_error,
    resolve_image,
)
from chestx_reasoner.progress import JobSummary
from chestx_reasoner.runinfo import claim_output, digest, refuse_changed_inputs

log = logging.getLogger(__name__)
REQUIRED = ("id", "task", "question", "options", "answer")
LISTS = ("options", "images")
_WARN_LIMIT = 10  # per-item warnings shown before they are only counted


def read_samples(path: Path, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Benchmark items, each checked for what prediction needs (one-line file:line errors)."""
    return (record for _, record in read_checked(path, REQUIRED, lists=LISTS, limit=limit,
                                                     check=sample_problem))


def check_samples(path: Path, limit: int | None = None) -> list[str]:
    """Every id, after checking all records and that none repeats, before any model work."""
    return unique_ids(path, read_checked(path, REQUIRED, lists=LISTS, limit=limit,
                                         check=sample_problem))


def existing_model(out: Path) -> str | None:
    """The `model` of the first complete record already in `out`, if any."""
    if not out.exists():
        return None
    with out.open("rb") as handle:
        for raw in handle:
            if raw.endswith(b"\n") and raw.strip():
                try:
                    return json.loads(raw).get("model")
                except (json.JSONDecodeError, AttributeError):
                    return None
    return None


class _Skips:
    """Counts skipped items and warns about the first few, one line each."""

    def __init__(self, summary: JobSummary) -> None:
        self.summary = summary

    def add(self, reason: str, message: str) -> None:
        self.summary.skipped[reason] += 1
        total = sum(self.summary.skipped.values())
        if total <= _WARN_LIMIT:
            log.warning("skipped: %s", message)
        elif total == _WARN_LIMIT + 1:
            log.warning("more items skipped; the summary counts them")


def prepare(sample: dict[str, Any], root: Path, image_input: str,
            skips: _Skips) -> PreparedItem | None:
    """The item with its image paths (and pixels, if the model wants them); None = skipped."""
    paths = [resolve_image(str(p), root) for p in sample.get("images") or []]
    item = PreparedItem(sample, paths)
    if image_input == "none":
        return item
    for path in paths:
        if not path.is_file():
            skips.add("missing image", f"{sample['id']}: image not found: {path}")
            return None
        try:
            if image_input == "pixels":
                item.images.append(load_image(path))
            else:
                check_image(path)
        except ImageReadError as error:
            skips.add("unreadable image", f"{sample['id']}: {error}")
            return None
    return item


def checkpoint_fingerprint(spec: str) -> str:
    """What identifies the weights behind a model spec, cheaply: for a local folder, each
    weight file's name, size and a digest of its first and last MiB (a retrained checkpoint
    under the same name differs); otherwise the spec itself (a hub id, a server's model)."""
    kind, sep, rest = spec.partition(":")
    folder = Path(rest if sep and kind == "hf" else spec)
    if not folder.is_dir():
        return spec
    parts: list[Any] = []
    for path in sorted(folder.iterdir()):
        if path.suffix in (".safetensors", ".bin", ".pt", ".pth") or path.name == "config.json":
            size = path.stat().st_size
            with path.open("rb") as handle:
                head = handle.read(1 << 20)
                handle.seek(max(0, size - (1 << 20)))
                tail = handle.read(1 << 20)
            parts.append([path.name, size, digest([head.hex(), tail.hex()])])
    return digest(parts) if parts else spec


def predict_settings(model: ModelAdapter, spec: str, settings: GenerationSettings
                     ) -> dict[str, Any]:
    """What shapes a predictions file (recorded beside it): the model's name, the weights'
    fingerprint and the generation settings; the same for `chestx predict` and the demo."""
    return {"model": model.name, "checkpoint": checkpoint_fingerprint(spec),
            "max_new_tokens": settings.max_new_tokens, "temperature": settings.temperature,
            "seed": settings.seed, **({} if settings.reasoning else {"answer_only": True})}


def _input_fields(record: dict[str, Any]) -> list[Any]:
    """What a prediction is made from: an output made from other values is another run's."""
    return [record.get(k) for k in ("task", "question", "options", "images")]


def predict_file(bench: Path, out: Path, model: ModelAdapter, settings: GenerationSettings, *,
                 image_root: Path | None = None, limit: int | None = None,
                 on_start: Callable[[int, int], None] | None = None,
                 progress: Callable[[int], None] | None = None,
                 made_by: dict[str, Any] | None = None, overwrite: bool = False,
                 ) -> JobSummary:
    """Predict every item of `bench` not yet in `out`; returns what was done and skipped.

    `made_by` (model, checkpoint fingerprint, generation settings) is recorded beside `out`
    and a rerun with another is refused (`runinfo`), as is an id already predicted from other
    item values; `overwrite` starts over.
    """
    bench, out = Path(bench), Path(out)
    ids = check_samples(bench, limit)
    if made_by is not None:
        claim_output(out, "predict", made_by, overwrite=overwrite)
    previous = existing_model(out)
    if previous is not None and previous != model.name:
        raise RecordError(f"{out}: already holds predictions of model {previous!r}, not "
                          f"{model.name!r}; write to another --out")
    refuse_changed_inputs(
        out, ((f"{bench}:{line}", record) for line, record in
              read_checked(bench, REQUIRED, lists=LISTS, limit=limit)),
        lambda r: str(r["id"]), _input_fields, "item (task, question, options or images)")
    root = image_root or bench.parent
    if model.image_input != "none":
        check_images_found(bench, root, limit)
    summary = JobSummary()
    skips = _Skips(summary)
    with ResumableWriter(out) as writer:
        todo = [i for i in ids if i not in writer]
        summary.already_done = len(ids) - len(todo)
        start = time.perf_counter()
        if on_start:
            on_start(len(todo), summary.already_done)
        pending = (s for s in read_samples(bench, limit) if str(s["id"]) not in writer)
        for batch in batched(pending, settings.batch_size):
            prepared = [p for s in batch
                        if (p := prepare(s, root, model.image_input, skips)) is not None]
            outputs = model.predict(prepared, settings) if prepared else []
            for item, output in zip(prepared, outputs, strict=True):
                if output is None:
                    summary.fail("the model returned no output")
                    continue
                writer.write({**item.sample, "prediction": output, "model": model.name})
                summary.done += 1
            if progress:
                progress(len(batch))
    summary.seconds = time.perf_counter() - start
    return summary


def check_images_found(bench: Path, root: Path, limit: int | None = None) -> None:
    """Refuse (RecordError) a file none of whose items has all its images under `root`: that
    is a wrong image root, which skipping every item would hide behind "predicted 0 items"."""
    missing, first = 0, None
    for sample in read_samples(bench, limit):
        paths = [resolve_image(str(p), root) for p in sample.get("images") or []]
        lost = next((p for p in paths if not p.is_file()), None)
        if lost is None:
            return
        missing, first = missing + 1, first or lost
    if first is not None:
        raise RecordError(missing_images_error(bench, root, missing, first))
