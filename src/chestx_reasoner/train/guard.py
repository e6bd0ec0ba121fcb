"""What a training run checks around the Trainer, so no run loses or overwrites work.

Before: an output folder that cannot be written (a file, a read-only file system) or that is
the model being trained (saving would overwrite the input) is refused before the model loads.
A run that already finished is not trained again on `--resume` (the Trainer would add a step).
During and after: a checkpoint or the final save that fails for lack of space says which
complete checkpoint is left and how to go on, in one line.
"""

from __future__ import annotations

import errno
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chestx_reasoner.train.sft import TrainError, TrainResult, complete_checkpoints, model_path

CARD = "chestx_train.json"  # written last by `save_trained`: the run finished and saved
_WRITE_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


def check_out(out: Path, model_spec: str) -> None:
    """One-line TrainError for an --out that is a file, is the --model folder, or cannot be
    written; creates the folder otherwise."""
    if out.exists() and not out.is_dir():
        raise TrainError(f"{out}: exists and is not a folder (--out)")
    source = Path(model_path(model_spec))
    if source.is_dir() and out.exists() and source.resolve() == out.resolve():
        raise TrainError(f"--out {out} is the model being trained (--model): saving would "
                         "overwrite it; choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-check-"):
            pass
    except OSError as error:
        raise TrainError(f"{out}: cannot write ({error.strerror or error}) (--out)") from None


@dataclass(frozen=True, slots=True)
class FinishedData:
    """The data line of a run that finished earlier, as its card recorded it."""

    text: str

    def describe(self) -> str:
        return self.text


def run_ended(last: str | None, max_steps: int) -> bool:
    """Whether the checkpoint `--resume` found is the last step of its run and the options ask
    for no more (a larger --max-steps goes on). The Trainer would train one more step."""
    if last is None:
        return False
    try:
        state = json.loads((Path(last) / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    step = int(state.get("global_step") or 0)
    return step >= int(state.get("max_steps") or 0) and not (0 < step < max_steps)


def finished_run(out: Path, last: str | None, max_steps: int) -> TrainResult | None:
    """The result of a run that already ended at its last checkpoint and saved its model, as
    its card and trainer state recorded it; None when there is training or saving left."""
    if not run_ended(last, max_steps) or not (out / CARD).is_file():
        return None
    assert last is not None
    try:
        state = json.loads((Path(last) / "trainer_state.json").read_text(encoding="utf-8"))
        card = json.loads((out / CARD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    step = int(state.get("global_step") or 0)
    if card.get("global_step") != step:
        return None
    data = card.get("examples") or f"{card.get('prompts', '?')} prompts"
    summary: Any = FinishedData(f"{data} (finished earlier)")
    return TrainResult(out, step, summary, last, list(state.get("log_history") or []),
                       finished_before=True)


def train_or_restore(trainer: Any, last: str | None, ended: bool) -> None:
    """Train (resuming from `last`), or, when the run had ended and only its final save was
    lost (a full disk), take the trainer's state from `last` without training again; the
    weights were already restored from it."""
    if ended and last is not None:
        from transformers import TrainerState

        trainer.state = TrainerState.load_from_json(str(Path(last) / "trainer_state.json"))
        return
    trainer.train(resume_from_checkpoint=last)


def checkpoint_note(out: Path) -> str:
    """What a rerun with --resume continues from, truthfully."""
    kept = complete_checkpoints(out)
    if not kept:
        return "no checkpoint was saved yet, so a rerun starts over"
    return f"the last complete checkpoint is {kept[-1].name}: rerun with --resume to go on from it"


@contextmanager
def save_errors(out: Path) -> Iterator[None]:
    """A write that fails (disk full, read-only, quota) while checkpointing or saving becomes
    one TrainError that says what is kept; any other OSError passes."""
    try:
        yield
    except OSError as error:
        if error.errno not in _WRITE_ERRORS:
            raise
        raise TrainError(f"{out}: cannot save ({error.strerror or error}); "
                         f"{checkpoint_note(out)}") from None
