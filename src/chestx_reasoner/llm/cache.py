"""SQLite cache of LLM responses, keyed by a hash of the request.

Why SQLite: mining and judging re-run over the same reports, and a cached answer costs nothing and
keeps re-runs reproducible; one file with WAL journaling lets several processes (parallel mining
shards) share it, with a busy timeout instead of "database is locked" errors. Lookups are a
primary-key read, so the async client does them in the event-loop thread.

Only the request payload (model, messages, sampling parameters) is hashed and only the response
text and token counts are stored: never headers, never the API key.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    response TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
)
"""


def cache_key(payload: Any) -> str:
    """SHA-256 of the payload as canonical JSON (sorted keys, no spaces), so equal requests match.

    >>> cache_key({"b": 1, "a": [1, 2]}) == cache_key({"a": [1, 2], "b": 1})
    True
    """
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedResponse:
    """One stored answer: the raw content and what it cost when it was first fetched."""

    response: str
    prompt_tokens: int
    completion_tokens: int


class ResponseCache:
    """A key -> response table in one SQLite file (WAL, busy timeout), shared across processes."""

    def __init__(self, path: Path | str, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit (isolation_level=None): each put is its own short transaction, so writers
        # in other processes wait at most one insert; check_same_thread=False because a client
        # may be built in one thread and used on an event loop in another (never both at once).
        self._db = sqlite3.connect(
            self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA synchronous=NORMAL")
        # Switching a new file to WAL while other processes open it can fail with "database is
        # locked" without waiting for the busy timeout, so the set-up retries until it runs out.
        deadline = time.monotonic() + busy_timeout_s
        while True:
            try:
                if self._db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute(_SCHEMA)
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def get(self, key: str) -> CachedResponse | None:
        """The stored response for `key`, or None."""
        row = self._db.execute(
            "SELECT response, prompt_tokens, completion_tokens FROM responses WHERE key = ?",
            (key,),
        ).fetchone()
        return None if row is None else CachedResponse(row[0], int(row[1]), int(row[2]))

    def put(
        self, key: str, model: str, response: str, prompt_tokens: int = 0,
        completion_tokens: int = 0,
    ) -> None:
        """Store (or replace) one successful, validated response."""
        self._db.execute(
            "INSERT OR REPLACE INTO responses"
            " (key, model, response, prompt_tokens, completion_tokens, created)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (key, model, response, int(prompt_tokens), int(completion_tokens), time.time()),
        )

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._db.close()
