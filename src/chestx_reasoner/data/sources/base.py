"""What every dataset adapter shares: the registry, tables read with precise errors, skip counts.

Each adapter is one file in this package that subclasses `SourceAdapter`, registers itself with
`@SOURCES.register(name)`, and yields `Study` records from a dataset's native release layout.
Bad input (a missing file, a missing column, an unreadable value) raises `DatasetError` naming
file, row and column; a study that cannot make benchmark items (no frontal image, an empty
report) is skipped and counted in `skipped`, never fatal.
"""

from __future__ import annotations

import csv
import gzip
import importlib
import pkgutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from chestx_reasoner.data.study import Study
from chestx_reasoner.registry import Registry


def _load_sources() -> None:
    import chestx_reasoner.data.sources as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name != "base":
            importlib.import_module(f"{package.__name__}.{module.name}")


SOURCES: Registry[type[SourceAdapter]] = Registry("source", loader=_load_sources)


class DatasetError(ValueError):
    """A dataset file that cannot be read as its release defines it (one line: where, why)."""


class SourceAdapter:
    """Reads one dataset's release folder; `studies()` yields `Study` records.

    Args:
        root: the release folder as downloaded (the layout each adapter's docstring shows).
    """

    name: ClassVar[str] = ""
    has_reports: ClassVar[bool] = True  # False: label-only datasets (SIIM, RSNA)
    # The release whose study ids this source's studies carry ('' = its own): sources over
    # one release (MS-CXR-T over MIMIC-CXR) give one study under one id, so a build can keep
    # the study's items once.
    study_ids: ClassVar[str] = ""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: no such folder (the {self.name} release root)")
        self.skipped: Counter[str] = Counter()  # reason -> studies skipped

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r})"

    def studies(self) -> Iterator[Study]:
        """Usable studies; each unusable one is counted in `skipped` under its reason."""
        for study in self.read():
            if study.frontal_image() is None:
                self.skipped["no frontal image"] += 1
            elif self.has_reports and not study.report.strip():
                self.skipped["empty or missing report"] += 1
            else:
                yield study

    def read(self) -> Iterator[Study]:
        """Every study of the release, usable or not (adapters implement this)."""
        raise NotImplementedError


def find_file(root: Path, name: str) -> Path:
    """`name` under root, or its `.gz` twin (releases ship both ways)."""
    for candidate in (root / name, root / f"{name}.gz"):
        if candidate.exists():
            return candidate
    if name.endswith(".gz") and (root / name[:-3]).exists():
        return root / name[:-3]
    raise DatasetError(f"{root / name}: missing (neither it nor {name}.gz is in {root})")


def read_table(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a CSV (or .csv.gz) as (line number, row), after checking the header.

    Line numbers count the header as line 1, as an editor shows them.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        # utf-8-sig: a CSV saved by a spreadsheet starts with a byte-order mark.
        with opener(path, "rt", encoding="utf-8-sig",  # type: ignore[operator]
                    newline="") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [c for c in required if c not in header]
            if missing:
                raise DatasetError(f"{path}:1: missing column {missing[0]!r} "
                                   f"(header has: {', '.join(header) or 'nothing'})")
            end_of_previous = reader.line_num
            for row in reader:
                line = end_of_previous + 1  # a quoted cell may span lines: name the first
                end_of_previous = reader.line_num
                if None in row:  # more cells than header columns
                    raise DatasetError(f"{path}:{line}: more cells than the "
                                       f"{len(header)} header columns")
                yield line, row
    except (OSError, EOFError, UnicodeDecodeError, csv.Error, gzip.BadGzipFile) as error:
        raise DatasetError(f"{path}: unreadable ({error})") from error


def parse_label(path: Path, line: int, column: str, text: str | None) -> float | None:
    """A CheXpert-style cell: '1.0' / '0.0' / '-1.0' / '' (also '1', '0', '-1')."""
    text = (text or "").strip()
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise DatasetError(f"{path}:{line}: column {column!r}: {text!r} is not a label "
                           "(1.0, 0.0, -1.0 or empty)") from None
    if value not in (1.0, 0.0, -1.0):
        raise DatasetError(f"{path}:{line}: column {column!r}: {text!r} is not a label "
                           "(1.0, 0.0, -1.0 or empty)")
    return value


def read_text(path: Path) -> str:
    """A report file's text; '' when it is missing (the study is then skipped, not fatal)."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
