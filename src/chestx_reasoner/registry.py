"""One registry helper for every pluggable piece: dataset sources, task builders, judges, models.

A new piece is one file that registers itself here; a misspelt name gets an error listing the
valid names and the closest one.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """A name that is not registered; the message suggests the closest valid one."""

    def __str__(self) -> str:  # KeyError quotes its message; ours is a sentence
        return str(self.args[0])


class Registry(Generic[T]):
    """Name -> object, filled by the `register` decorator where each object is defined.

    >>> tasks = Registry("task")
    >>> @tasks.register("binary")
    ... def build_binary(): ...
    >>> tasks.get("binary") is build_binary
    True
    >>> try:
    ...     tasks.get("binery")
    ... except KeyError as error:
    ...     print(error)
    unknown task 'binery'; did you mean 'binary'? (choose from: binary)
    """

    def __init__(self, kind: str, loader: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._loader = loader  # imports the modules that register themselves, on first use
        self._loaded = loader is None

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return add

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            assert self._loader is not None
            self._loader()

    def get(self, name: str) -> T:
        self._load()
        if name not in self._items:
            close = difflib.get_close_matches(name, list(self._items), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UnknownNameError(f"unknown {self.kind} {name!r}{hint} "
                                   f"(choose from: {', '.join(self.names())})")
        return self._items[name]

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
