"""LLM client throughput against a local chat-completions server with fixed latency.

    PYTHONPATH=src python benchmarks/llm_concurrency.py [--calls 100] [--latency 0.2]

Why: mining and judging are bound by server latency, not by our code; this shows that the
client's semaphore keeps exactly `concurrency` requests in flight and that wall time falls as
ceil(N / concurrency) x latency, so the setting a user picks for vLLM or a hosted API is the
one they get. No cache, no network: the server is tests/llm_server.py on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from chestx_reasoner.llm.client import ChatClient, LLMSettings, run

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from llm_server import FakeChatServer  # noqa: E402


async def batch(url: str, calls: int, concurrency: int) -> float:
    """Wall seconds for `calls` distinct completions at the given concurrency."""
    settings = LLMSettings(url=url, model="bench", api_key_env="", concurrency=concurrency)
    async with ChatClient(settings) as client:
        start = time.perf_counter()
        await asyncio.gather(*(client.complete([{"role": "user", "content": f"report {i}"}])
                               for i in range(calls)))
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.2, help="server seconds per request")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    args = parser.parse_args()

    table = Table(title=f"{args.calls} calls, {args.latency * 1000:.0f} ms server latency")
    for column in ("concurrency", "wall s", "calls/s", "max in-flight", "ideal s"):
        table.add_column(column, justify="right")
    with FakeChatServer(latency_s=args.latency) as server:
        for concurrency in args.concurrency:
            server.reset()
            wall = run(batch(server.url, args.calls, concurrency))
            ideal = -(-args.calls // concurrency) * args.latency
            table.add_row(str(concurrency), f"{wall:.2f}", f"{args.calls / wall:.1f}",
                          str(server.max_in_flight), f"{ideal:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
