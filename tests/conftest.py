"""Fixtures shared by the test modules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_server import FakeChatServer


@pytest.fixture
def server() -> Iterator[FakeChatServer]:
    """A local chat-completions server on 127.0.0.1, its script empty, stopped after the test."""
    with FakeChatServer() as fake:
        yield fake


@pytest.fixture(scope="session")
def training_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(mined JSONL beside its benchmark, tiny model folder), built once for the modules that
    only read them (the verl and lmms-eval integrations)."""
    from test_train_sft import make_training_data

    return make_training_data(tmp_path_factory.mktemp("training-data"))
