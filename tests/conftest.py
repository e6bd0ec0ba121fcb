"""Fixtures shared by the test modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llm_server import FakeChatServer


@pytest.fixture
def server() -> Iterator[FakeChatServer]:
    """A local chat-completions server on 127.0.0.1, its script empty, stopped after the test."""
    with FakeChatServer() as fake:
        yield fake
