"""`--workers N` for `chestx mine` and `chestx score`: the offline engines in N processes.

Why a wrapper and not a second loop: `mine_file` and `score_file` already read, resume and
write in input order, and hand their engine one batch at a time (`mine_batch`, `judge_many`).
`Pooled` is an engine with the same method that splits each batch into N contiguous chunks,
runs them in a process pool (one engine per process, built once: the spaCy pipelines take
seconds to load) and joins the results in order. Each item's result depends on that item alone
(the rules engines seed per item), so the output bytes are those of one worker; the tests check
exactly that (whatever each process's string-hashing seed). Speed: on a 2-core machine two
workers measured 1.03x (mine) and 0.85x (score) on 13k items (`benchmarks/workers.py`):
correct, not yet fast.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

_ENGINE: Any = None


def _start(factory: Callable[[], Any]) -> None:
    global _ENGINE
    _ENGINE = factory()


def _call(method: str, args: tuple[Any, ...]) -> list[Any]:
    return list(getattr(_ENGINE, method)(*args))


def chunks(n_items: int, parts: int) -> list[slice]:
    """Contiguous, near-equal slices covering range(n_items), at most `parts` of them.

    >>> chunks(5, 2)
    [slice(0, 3, None), slice(3, 5, None)]
    >>> chunks(1, 4)
    [slice(0, 1, None)]
    """
    parts = max(1, min(parts, n_items))
    size, extra = divmod(n_items, parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        out.append(slice(start, end))
        start = end
    return out


class Pooled:
    """An engine that runs the methods of `factory()` engines in `workers` processes.

    `factory` must pickle (a class, or `functools.partial` of one); `name` is what the stage
    records as its engine (`mining.backend`).
    """

    def __init__(self, factory: Callable[[], Any], workers: int, name: str) -> None:
        if workers < 2:
            raise ValueError(f"Pooled needs at least 2 workers, got {workers}")
        self.workers = workers
        self.name = name
        # what the engine class declares of its output (the judge's score calibration)
        self.calibration = getattr(getattr(factory, "func", factory), "calibration", None)
        # spawn: a fork of a process holding torch/spaCy threads can deadlock
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start,
                                         initargs=(factory,))

    def _map(self, method: str, columns: Sequence[Sequence[Any]]) -> list[Any]:
        n = len(columns[0])
        if n == 0:
            return []
        parts = [tuple(list(column[s]) for column in columns) for s in chunks(n, self.workers)]
        out: list[Any] = []
        for result in self._pool.map(_call, [method] * len(parts), parts):
            out.extend(result)
        return out

    def mine_batch(self, items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return self._map("mine_batch", [items])

    def judge_many(self, records: Sequence[Any], steps: Sequence[Any], correct: Sequence[Any]
                   ) -> list[Any]:
        return self._map("judge_many", [records, steps, correct])

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Pooled:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
