"""Outputs remember what made them, so a rerun that differs is refused instead of mixed in.

Why: every long job resumes by skipping the ids already in its output. That is right for the same
command rerun after a crash, and silently wrong for any other: labels of other reports under the
same ids, a second model's predictions resumed under the first one's name, a score folder that
keeps an earlier file's verdicts for the same ids (and prints their accuracy for the new file).
Two records make the difference visible:

- a small JSON file beside the output (`OUT.run.json` for a file, `DIR/run.json` for a folder)
  with the command and the settings that shape the output; a rerun with other settings, or an
  output that exists without one, is refused with one line (`--overwrite` starts over);
- a digest of each done record's input fields, compared with the input now given for that id.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from chestx_reasoner.jsonl import RecordError, write_atomic

OVERWRITE_HINT = "pass --overwrite to start over or choose another --out"


def run_file(out: str | os.PathLike[str], folder: bool = False) -> Path:
    """Where an output's record of what made it lives: DIR/run.json, or OUT.run.json."""
    out = Path(out)
    return out / "run.json" if folder else out.with_name(f"{out.stem}.run.json")


def claim_output(out: str | os.PathLike[str], command: str, settings: dict[str, Any], *,
                 overwrite: bool = False, outputs: Iterable[str | os.PathLike[str]] = (),
                 folder: bool = False) -> None:
    """Check that `out` is empty or was made by this `command` with these `settings`, then
    record them; raises RecordError (one line) otherwise.

    `outputs` are the files (or folders) the command writes under `out`: `overwrite` deletes
    them first, and any of them that exists without a run record is refused (it was made by
    something else, or before outputs remembered what made them). For a file output, `outputs`
    defaults to the file itself.
    """
    out = Path(out)
    record = run_file(out, folder)
    targets = [Path(p) for p in outputs] or ([] if folder else [out])
    if overwrite:
        for path in [*targets, record]:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
    wanted = {"command": command, "settings": _plain(settings)}
    if record.is_file():
        try:
            previous = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise RecordError(f"{record}: unreadable ({error}); {OVERWRITE_HINT}") from None
        if previous.get("command") != command:
            raise RecordError(f"{out} was written by `chestx {previous.get('command')}`, not "
                              f"`chestx {command}`; {OVERWRITE_HINT}")
        before, now = previous.get("settings") or {}, wanted["settings"]
        for key in sorted(set(before) | set(now)):
            if before.get(key) != now.get(key):
                raise RecordError(
                    f"{out} was made with {key} {_show(before.get(key))}, this run has "
                    f"{_show(now.get(key))}; {OVERWRITE_HINT}")
        return
    if folder and out.exists() and not out.is_dir():
        raise RecordError(f"{out}: exists and is not a folder (--out)")
    if not folder and out.is_dir():
        raise RecordError(f"{out}: is a folder; --out names a file")
    existing = [p for p in targets if _holds_data(p)]
    if existing:
        raise RecordError(f"{existing[0]} exists and was not written by `chestx {command}` "
                          f"(no {record.name} beside it); {OVERWRITE_HINT}")
    write_atomic(record, json.dumps(wanted, indent=2, sort_keys=True) + "\n")


def _holds_data(path: Path) -> bool:
    if path.is_dir():
        return any(path.iterdir())
    return path.exists() and path.stat().st_size > 0


def _plain(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings as JSON would give them back (tuples as lists, paths as text)."""
    return json.loads(json.dumps(settings, default=str))


def _show(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value)


def digest(values: Any) -> str:
    """A short stable digest of JSON-able values (the input fields an output was made from)."""
    text = json.dumps(values, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def done_digests(out: str | os.PathLike[str], key: Callable[[dict[str, Any]], str],
                 fields: Callable[[dict[str, Any]], Any]) -> dict[str, str]:
    """key -> digest of `fields` for every complete record already in `out` (none if absent).
    Lines that do not parse are skipped: the resumable writer reports those itself."""
    out = Path(out)
    found: dict[str, str] = {}
    if not out.is_file():
        return found
    with out.open("rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n") or not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except (ValueError, RecursionError):
                continue
            if isinstance(record, dict):
                try:
                    found[key(record)] = digest(fields(record))
                except (KeyError, TypeError):
                    continue
    return found


def refuse_changed_inputs(out: str | os.PathLike[str],
                          records: Iterable[tuple[str, dict[str, Any]]],
                          key: Callable[[dict[str, Any]], str],
                          fields: Callable[[dict[str, Any]], Any], what: str) -> None:
    """Raise RecordError for the first input record whose key is already done in `out` from
    other `fields` values (`records` are (where, record) pairs, `where` its file:line; `what`
    names the fields for the message). Reads `out` once; nothing to do when it is empty."""
    done = done_digests(out, key, fields)
    if not done:
        return
    for where, record in records:
        previous = done.get(key(record))
        if previous is not None and previous != digest(fields(record)):
            shown = key(record).replace("\t", " ")
            raise RecordError(f"{where}: {shown!r} is already in {out} from a different {what} "
                              f"(an earlier run on other input?); {OVERWRITE_HINT}")
