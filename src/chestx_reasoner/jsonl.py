"""Record I/O shared by every long job: read input records, write resumable JSON Lines output.

Why one module: labeling, mining, prediction and scoring all stream thousands of records through
hours of work. They must report bad input the same way (one line naming file, line and field, no
traceback) and survive a crash the same way (rerun, skip what is done, lose at most one record).
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})
CSV_SUFFIXES = frozenset({".csv"})


class RecordError(ValueError):
    """Bad input; the message is one line naming file, line and (where relevant) field."""


def iter_records(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, record) from a `.jsonl` or `.csv` file, raising RecordError on bad input.

    JSONL: one JSON object per line, blank lines skipped. CSV: a header row, then one record per
    row, every value a string. Line numbers are 1-based physical lines (a CSV record spanning
    several lines is numbered by its last line).

    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.jsonl"
    >>> _ = p.write_text('{"id": "a"}\\n\\n{"id": "b"}\\n')
    >>> list(iter_records(p))
    [(1, {'id': 'a'}), (3, {'id': 'b'})]
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        reader = _iter_jsonl
    elif suffix in CSV_SUFFIXES:
        reader = _iter_csv
    else:
        kind = suffix or "(none)"
        raise RecordError(f"{path}: unsupported file type {kind!r} (use .jsonl or .csv)")
    try:
        yield from reader(path)
    except OSError as exc:
        raise RecordError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def _iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise RecordError(f"{path}:{number}: not UTF-8 ({exc.reason})") from exc
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise RecordError(f"{path}:{number}: invalid JSON ({exc.msg})") from exc
            except RecursionError:
                raise RecordError(f"{path}:{number}: JSON nested too deeply") from None
            if not isinstance(record, dict):
                raise RecordError(
                    f"{path}:{number}: expected a JSON object, got {_json_type(record)}")
            yield number, record


def _iter_csv(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None:
                return
            if len(set(header)) != len(header):
                dupes = sorted({name for name in header if header.count(name) > 1})
                raise RecordError(f"{path}:1: duplicate column {dupes[0]!r}")
            for row in reader:
                if not row:
                    continue
                if len(row) != len(header):
                    raise RecordError(
                        f"{path}:{reader.line_num}: expected {len(header)} fields, got {len(row)}")
                yield reader.line_num, dict(zip(header, row, strict=True))
        except csv.Error as exc:
            raise RecordError(f"{path}:{reader.line_num}: invalid CSV ({exc})") from exc
        except UnicodeDecodeError as exc:
            raise RecordError(f"{path}:{reader.line_num + 1}: not UTF-8 ({exc.reason})") from exc


def _json_type(value: object) -> str:
    names = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def require_fields(
    path: str | os.PathLike[str], line: int, record: dict[str, Any], fields: Iterable[str]
) -> None:
    """Raise RecordError naming the first of `fields` the record lacks, so jobs fail before work.

    >>> require_fields("r.jsonl", 3, {"id": "a"}, ["id", "report"])
    Traceback (most recent call last):
    ...
    chestx_reasoner.jsonl.RecordError: r.jsonl:3: missing field 'report'
    """
    for name in fields:
        if name not in record:
            raise RecordError(f"{path}:{line}: missing field {name!r}")


def record_id(
    path: str | os.PathLike[str], line: int, record: dict[str, Any], key: str = "id"
) -> str:
    """Return the record's id as text (a string or an integer in the file), or raise RecordError.

    Ids are compared as text so a CSV input and its JSONL output agree (CSV has no integers).

    >>> record_id("r.jsonl", 1, {"id": 7})
    '7'
    """
    require_fields(path, line, record, [key])
    value = record[key]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RecordError(
            f"{path}:{line}: field {key!r} must be a string or integer, got {_json_type(value)}")
    text = str(value)
    if not text.strip():
        raise RecordError(f"{path}:{line}: field {key!r} is empty")
    return text


def read_checked(
    path: str | os.PathLike[str], fields: Iterable[str], *, lists: Iterable[str] = (),
    limit: int | None = None, check: Callable[[dict[str, Any]], str | None] | None = None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, record) of the first `limit` records, each checked for an id, the `fields` a job
    needs, list values where `lists` says (absent counts as empty) and by `check` (what is
    wrong with the record, or None; e.g. `bench.sample.sample_problem`): one-line errors.

    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "b.jsonl"
    >>> _ = p.write_text('{"id": "a", "options": "A) x"}\\n')
    >>> try:
    ...     list(read_checked(p, ["options"], lists=["options"]))
    ... except RecordError as error:
    ...     print(str(error).split(":", 1)[1])
    1: field 'options' must be a list
    """
    fields, lists = list(fields), list(lists)
    for count, (line, record) in enumerate(iter_records(path), start=1):
        if limit is not None and count > limit:
            return
        record_id(path, line, record)
        require_fields(path, line, record, fields)
        for key in lists:
            if not isinstance(record.get(key, []), list):
                raise RecordError(f"{path}:{line}: field {key!r} must be a list")
        if check is not None and (problem := check(record)):
            raise RecordError(f"{path}:{line}: {problem}")
        yield line, record


def unique_ids(path: str | os.PathLike[str],
               records: Iterable[tuple[int, dict[str, Any]]]) -> list[str]:
    """All ids of (line, record) pairs, in order, raising RecordError on a repeated one."""
    ids = UniqueIds(path)
    for line, record in records:
        ids.add(line, str(record["id"]))
    return list(ids)


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Lists of `size` items (the last may be shorter); itertools.batched is Python 3.12+."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class UniqueIds:
    """Remembers where each id was first seen, so a duplicate is reported with both lines.

    >>> ids = UniqueIds("r.jsonl")
    >>> ids.add(1, "a")
    >>> ids.add(4, "a")
    Traceback (most recent call last):
    ...
    chestx_reasoner.jsonl.RecordError: r.jsonl:4: duplicate id 'a' (first seen on line 1)
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = path
        self._first_line: dict[str, int] = {}

    def add(self, line: int, record_id: str) -> None:
        first = self._first_line.setdefault(record_id, line)
        if first != line:
            raise RecordError(
                f"{self.path}:{line}: duplicate id {record_id!r} (first seen on line {first})")

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._first_line

    def __len__(self) -> int:
        return len(self._first_line)

    def __iter__(self) -> Iterator[str]:
        return iter(self._first_line)


class ResumableWriter:
    """Append-only JSON Lines output that a rerun resumes: it knows which ids are already done.

    Crash safety: each record is one `write` system call of one complete line, so once `write`
    returns the line is in the OS and survives a kill -9; a kill mid-call leaves at most a partial
    last line, which the next open cuts off (a line counts only once its newline is written).
    Lines are fsync'ed every `fsync_every` records or `fsync_seconds` seconds, whichever comes
    first, bounding what a power cut can lose. Earlier lines are never rewritten in place.

    >>> import pathlib, tempfile
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "out.jsonl"
    >>> with ResumableWriter(out) as w:
    ...     w.write({"id": "a", "x": 1})
    >>> _ = out.open("a").write('{"id": "b", "x"')  # a crash mid-line
    >>> with ResumableWriter(out) as w:
    ...     sorted(w.done_ids)
    ['a']
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        id_key: str = "id",
        fsync_every: int = 100,
        fsync_seconds: float = 1.0,
    ) -> None:
        self.path = Path(path)
        self.id_key = id_key
        self.fsync_every = max(1, fsync_every)
        self.fsync_seconds = fsync_seconds
        self.done_ids: set[str] = set()
        self.resumed = 0  # complete records found on open
        self.truncated_bytes = 0  # bytes of a partial last line cut off on open
        self.written = 0  # records written since open
        self._fd: int | None = None
        self._unsynced = 0
        self._last_sync = 0.0

    def __enter__(self) -> ResumableWriter:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def open(self) -> None:
        """Read the ids already in the file, cut a partial last line, and open for appending."""
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        good_end = self._scan_existing() if self.path.exists() else 0
        if self.path.exists() and self.path.stat().st_size > good_end:
            self.truncated_bytes = self.path.stat().st_size - good_end
            self._rewrite_prefix(good_end)
        created = not self.path.exists()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if created:
            _fsync_dir(self.path.parent)  # the new directory entry must survive a power cut too
        self._last_sync = time.monotonic()

    def _scan_existing(self) -> int:
        """Collect done ids; return the byte offset just past the last complete, valid line.

        Only the last line can be damaged by a crash (the file is append-only); damage anywhere
        else means someone edited the file, and guessing would lose or repeat work, so it raises.
        """
        offset = good_end = 0
        damaged: str | None = None
        with self.path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if damaged is not None:
                    raise RecordError(damaged)
                offset += len(raw)
                if not raw.endswith(b"\n"):
                    break  # partial last line: cut by the caller
                if raw.strip():
                    record_id, problem = self._parse_line(raw)
                    if record_id is None:
                        damaged = f"{self.path}:{number}: {problem}"
                        continue
                    self.done_ids.add(record_id)
                    self.resumed += 1
                good_end = offset
        return good_end

    def _parse_line(self, raw: bytes) -> tuple[str | None, str]:
        """Return (id, "") for a good output line, or (None, what is wrong with it)."""
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return None, "invalid JSON in output before its last line (fix or remove that line)"
        if not isinstance(record, dict) or self.id_key not in record:
            return None, f"output line has no field {self.id_key!r}"
        return str(record[self.id_key]), ""

    def _rewrite_prefix(self, length: int) -> None:
        """Atomically replace the file by its first `length` bytes (temp file + os.replace)."""
        fd, tmp = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as dst, self.path.open("rb") as src:
                remaining = length
                while remaining:
                    chunk = src.read(min(remaining, 1 << 20))
                    if not chunk:
                        break
                    dst.write(chunk)
                    remaining -= len(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            os.chmod(tmp, self.path.stat().st_mode & 0o777)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(self.path.parent)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self.done_ids

    def write(self, record: dict[str, Any]) -> None:
        """Append one record as one line; it survives a kill -9 as soon as this returns."""
        if self._fd is None:
            raise RuntimeError(f"{self.path}: writer is not open")
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:  # os.write may write less than asked (signals, full disks)
            view = view[os.write(self._fd, view):]
        if self.id_key in record:
            self.done_ids.add(str(record[self.id_key]))
        self.written += 1
        self._unsynced += 1
        now = time.monotonic()
        if self._unsynced >= self.fsync_every or now - self._last_sync >= self.fsync_seconds:
            self.sync()

    def sync(self) -> None:
        """Force written lines to disk."""
        if self._fd is not None and self._unsynced:
            os.fsync(self._fd)
        self._unsynced = 0
        self._last_sync = time.monotonic()

    def close(self) -> None:
        """Sync and close; safe to call twice."""
        if self._fd is None:
            return
        try:
            self.sync()
        finally:
            os.close(self._fd)
            self._fd = None


def _fsync_dir(directory: Path) -> None:
    """Persist a directory entry (a created or replaced file); a no-op where unsupported."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike[str], data: bytes | str, durable: bool = True) -> None:
    """Write a whole file so that readers see the old file or the new one, never a part.

    `durable=False` skips the fsync: for many small files that can be regenerated (images),
    where an fsync each would dominate the run time.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as handle:
        handle.write(payload)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(tmp, path)
    if durable:
        _fsync_dir(path.parent)
