"""`--workers N` for `chestx mine` and `chestx score`: the same output bytes as one worker, a
resumed run too, and a clear refusal where workers do not apply."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chestx_reasoner.bench.build import BuildConfig, SourceSpec, build_benchmark
from chestx_reasoner.cli import app
from chestx_reasoner.data.synth import SynthConfig, synthesize
from chestx_reasoner.models.prompt import target_text
from chestx_reasoner.parallel import chunks

runner = CliRunner()


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("workers")
    synthesize(root / "cohort", SynthConfig(n=40, seed=11, size=32))
    build_benchmark([SourceSpec("synthetic", root / "cohort")], root / "bench",
                    BuildConfig(per_finding=2))
    return root / "bench"


def mine(bench: Path, out: Path, *extra: str) -> None:
    result = runner.invoke(app, ["mine", "--bench", str(bench / "train.jsonl"), "--out",
                                 str(out), *extra])
    assert result.exit_code == 0, result.output


@pytest.mark.slow
def test_mine_with_two_workers_writes_the_same_bytes(bench: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    mine(bench, one)
    lines = one.read_bytes().splitlines(keepends=True)
    assert len(lines) > 64  # more than one batch, each split across the workers
    # two workers resuming a run cut short (a partial last line) end with one worker's bytes
    two.write_bytes(b"".join(lines[:70]) + lines[70][:10])
    (tmp_path / "two.run.json").write_bytes((tmp_path / "one.run.json").read_bytes())
    mine(bench, two, "--workers", "2")
    assert two.read_bytes() == one.read_bytes()


@pytest.mark.slow
def test_score_with_two_workers_writes_the_same_bytes(bench: Path, tmp_path: Path) -> None:
    mined = tmp_path / "mined.jsonl"
    mine(bench, mined)
    predictions = tmp_path / "predictions.jsonl"
    with predictions.open("w", encoding="utf-8") as handle:
        for i, line in enumerate(mined.read_text(encoding="utf-8").splitlines()):
            record = json.loads(line)
            answer = record["answer"] if i % 3 else "A"
            record["prediction"] = target_text(record.get("reasoning") or [], answer)
            handle.write(json.dumps(record) + "\n")
    outs = []
    for workers in ("1", "2"):
        out = tmp_path / f"scored-{workers}"
        result = runner.invoke(app, ["score", "--predictions", str(predictions), "--out",
                                     str(out), "--no-html", "--workers", workers])
        assert result.exit_code == 0, result.output
        outs.append(out)
    for name in ("items.jsonl", "summary.json"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    assert len((outs[1] / "items.jsonl").read_text().splitlines()) > 64


def test_workers_are_for_the_rules_engines(bench: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["mine", "--bench", str(bench / "train.jsonl"), "--out",
                                 str(tmp_path / "m.jsonl"), "--backend", "llm", "--workers", "2",
                                 "--llm-url", "http://127.0.0.1:9", "--llm-model", "m"])
    assert result.exit_code == 2 and "--workers is for the rules backend" in result.stderr
    result = runner.invoke(app, ["score", "--predictions", str(bench / "train.jsonl"),
                                 "--out", str(tmp_path / "s"), "--judge", "llm", "--workers",
                                 "2"])
    assert result.exit_code == 2 and "--workers is for the rules judge" in result.stderr


def test_chunks_cover_in_order() -> None:
    for n in range(0, 9):
        for parts in range(1, 5):
            covered = [i for s in chunks(n, parts) for i in range(n)[s]]
            assert covered == list(range(n))
