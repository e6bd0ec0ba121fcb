"""Malformed and hostile inputs across every command: each ends in one line, never a traceback.

One table (`CASES`), one test: each row makes its input (real files, a real HTTP server on
127.0.0.1, a real read-only or full file system where the machine has one), runs the command
in-process and checks the exit code, a fragment of the message, and that no Python traceback
reached the user. Rows with a first run (a rerun that differs) make that run inside their maker.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import torch
from typer.testing import CliRunner

from chestx_reasoner.cli import app
from llm_server import FakeChatServer
from test_train_sft import make_training_data

runner = CliRunner()
BIG = "Small left pleural effusion. " * 40_000  # 1,160,000 characters: over spaCy's limit
DEEP = "[" * 100_000 + "]" * 100_000


@dataclass
class Ctx:
    """One row's folder and the shared benchmark, mined file and tiny model."""

    tmp: Path
    bench: Path
    mined: Path
    model: Path

    def items(self, n: int = 2) -> list[dict[str, Any]]:
        lines = self.mined.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines[:n]]

    def write(self, name: str, records: list[Any]) -> Path:
        """JSONL of `records` (dicts, or raw line strings) beside the benchmark's images."""
        path = self.bench / "rows" / self.tmp.name / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n"
                                for r in records), encoding="utf-8")
        return path

    def predictions(self, name: str, answer: str | None = None) -> Path:
        rows = []
        for item in self.items():
            given = answer or item["answer"]
            rows.append({**item, "model": "m",
                         "prediction": f"<think>Look.</think><answer>{given}</answer>"})
        return self.write(name, rows)


def run(*args: object) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def first(*args: object) -> None:
    """A row's first run, which must succeed."""
    result = run(*args)
    assert result.exit_code == 0, result.output


def _png_bomb(path: Path, side: int = 20_000) -> Path:
    """A real, valid 8-bit grey PNG of side x side black pixels (~400 KB on disk, 400 MPixel)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    packer = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + pixels
    body = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side,
                                                                       8, 0, 0, 0, 0))
                     + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def _unwritable(ctx: Ctx) -> Path:
    """A folder no write can reach: /sys (a kernel file system) for root, who ignores modes;
    a read-only folder for anyone else."""
    if os.geteuid() == 0:
        return Path("/sys/chestx-test-out")
    folder = ctx.tmp / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    return folder / "out"


def _dead_url() -> str:
    server = FakeChatServer().start()
    url = server.url
    server.stop()  # nothing listens on that port any more
    return url


def _sft(ctx: Ctx, out: Path, *extra: object) -> list[object]:
    return ["train", "sft", "--data", ctx.mined, "--model", f"hf:{ctx.model}", "--out", out,
            "--max-steps", 2, "--batch-size", 2, *extra]


def _predict(ctx: Ctx, bench: Path, model: str, out: Path, *extra: object) -> list[object]:
    return ["predict", "--bench", bench, "--model", model, "--out", out, "--limit", 2, *extra]


# -- makers: one per row, each returns the command line of the run under test -----------------

def label_long(ctx: Ctx) -> list[object]:
    return ["label", "--reports", ctx.write("r.jsonl", [{"id": "a", "report": BIG}]),
            "--out", ctx.tmp / "l.jsonl"]


def mine_long(ctx: Ctx) -> list[object]:
    items = [{**ctx.items(1)[0], "report": BIG}]
    return ["mine", "--bench", ctx.write("b.jsonl", items), "--out", ctx.tmp / "m.jsonl"]


def score_long(field: str) -> Callable[[Ctx], list[object]]:
    def make(ctx: Ctx) -> list[object]:
        rows = [{**json.loads(line), field: BIG} for line in
                ctx.predictions("p.jsonl").read_text().splitlines()[:1]]
        return ["score", "--predictions", ctx.write("p1.jsonl", rows), "--out", ctx.tmp / "s",
                "--no-html"]
    return make


def deep(command: str) -> Callable[[Ctx], list[object]]:
    def make(ctx: Ctx) -> list[object]:
        path = ctx.write("deep.jsonl", ['{"id": "a", "report": ' + DEEP + "}"])
        flag = {"label": "--reports", "mine": "--bench", "score": "--predictions"}[command]
        return [command, flag, path, "--out", ctx.tmp / ("o" if command == "score" else "o.jsonl")]
    return make


def mine_with(**fields: Any) -> Callable[[Ctx], list[object]]:
    def make(ctx: Ctx) -> list[object]:
        items = [{**ctx.items(1)[0], **fields}]
        return ["mine", "--bench", ctx.write("b.jsonl", items), "--out", ctx.tmp / "m.jsonl"]
    return make


def score_with(**fields: Any) -> Callable[[Ctx], list[object]]:
    def make(ctx: Ctx) -> list[object]:
        rows = [json.loads(line) for line in ctx.predictions("p.jsonl").read_text().splitlines()]
        rows = [{**rows[0], **fields}]
        for key in [k for k, v in fields.items() if v is ...]:
            del rows[0][key]
        return ["score", "--predictions", ctx.write("p1.jsonl", rows), "--out", ctx.tmp / "s"]
    return make


def predict_with(**fields: Any) -> Callable[[Ctx], list[object]]:
    def make(ctx: Ctx) -> list[object]:
        items = [{**ctx.items(1)[0], **fields}]
        return _predict(ctx, ctx.write("b.jsonl", items), "random", ctx.tmp / "p.jsonl")
    return make


def score_binary(ctx: Ctx) -> list[object]:
    path = ctx.tmp / "p.jsonl"
    path.write_bytes(bytes(range(256)) * 4 + b"\n")
    return ["score", "--predictions", path, "--out", ctx.tmp / "s"]


def stats_without_task(ctx: Ctx) -> list[object]:
    item = {k: v for k, v in ctx.items(1)[0].items() if k != "task"}
    return ["bench", "stats", ctx.write("b.jsonl", [item])]


def predict_bomb(ctx: Ctx) -> list[object]:
    items = [{**ctx.items(1)[0], "images": ["bomb.png"]}]
    bench = ctx.write("b.jsonl", items)
    _png_bomb(bench.parent / "bomb.png")
    return _predict(ctx, bench, f"hf:{ctx.model}", ctx.tmp / "p.jsonl")


def predict_device(device: str) -> Callable[[Ctx], list[object]]:
    def make(ctx: Ctx) -> list[object]:
        return _predict(ctx, ctx.bench / "test.jsonl", f"hf:{ctx.model}", ctx.tmp / "p.jsonl",
                        "--device", device)
    return make


def out_is_file(command: str) -> Callable[[Ctx], list[object]]:
    def make(ctx: Ctx) -> list[object]:
        out = ctx.tmp / "a-file"
        out.write_text("not a folder\n")
        return _sft(ctx, out) if command == "sft" else ["model", "init", "--out", out]
    return make


def out_unwritable(command: str) -> Callable[[Ctx], list[object]]:
    def make(ctx: Ctx) -> list[object]:
        out = _unwritable(ctx)
        return _sft(ctx, out) if command == "sft" else ["model", "init", "--out", out]
    return make


def sft_disk_full(ctx: Ctx) -> list[object]:
    """The final save hits a full disk: its log file is the kernel's always-full device."""
    out = ctx.tmp / "sft"
    out.mkdir()
    (out / "log_history.jsonl").symlink_to("/dev/full")
    return _sft(ctx, out)


def init_empty_data(ctx: Ctx) -> list[object]:
    return ["model", "init", "--out", ctx.tmp / "m", "--data", ctx.write("empty.jsonl", [])]


def grpo_unmined(ctx: Ctx) -> list[object]:
    return ["train", "grpo", "--data", ctx.bench / "train.jsonl", "--model", f"hf:{ctx.model}",
            "--out", ctx.tmp / "g", "--max-steps", 1]


def sft_out_is_model(ctx: Ctx) -> list[object]:
    model = ctx.tmp / "model"
    shutil.copytree(ctx.model, model)
    return [*_sft(ctx, model)[:4], "--model", f"hf:{model}", "--out", model, "--max-steps", 1]


def label_rerun(change: str) -> Callable[[Ctx], list[object]]:
    def make(ctx: Ctx) -> list[object]:
        reports = [{"id": "a", "report": "IMPRESSION: Small left pleural effusion."}]
        out = ctx.tmp / "l.jsonl"
        first("label", "--reports", ctx.write("r.jsonl", reports), "--out", out)
        if change == "reports":
            other = [{"id": "a", "report": "IMPRESSION: Right pneumothorax."}]
            return ["label", "--reports", ctx.write("r2.jsonl", other), "--out", out]
        return ["label", "--reports", ctx.write("r.jsonl", reports), "--out", out,
                "--scope", "report"]
    return make


def label_into_predictions(ctx: Ctx) -> list[object]:
    out = ctx.tmp / "p.jsonl"
    first(*_predict(ctx, ctx.bench / "test.jsonl", "random", out))
    return ["label", "--reports", ctx.bench / "test.jsonl", "--out", out]


def score_other_file(ctx: Ctx) -> list[object]:
    """Wrong answers scored first; a file of right answers for the same model and ids into the
    same folder used to resume, keeping the first file's verdicts (accuracy 0.000)."""
    wrong = ctx.predictions("wrong.jsonl", answer="Z")
    first("score", "--predictions", wrong, "--out", ctx.tmp / "s", "--no-html")
    return ["score", "--predictions", ctx.predictions("right.jsonl"), "--out", ctx.tmp / "s",
            "--no-html"]


def predict_other_checkpoint(ctx: Ctx) -> list[object]:
    model = ctx.tmp / "model"
    shutil.copytree(ctx.model, model)
    out = ctx.tmp / "p.jsonl"
    first(*_predict(ctx, ctx.bench / "test.jsonl", f"hf:{model}", out, "--limit", 1))
    first("model", "init", "--out", model, "--seed", 7, "--overwrite")  # retrained, same name
    return _predict(ctx, ctx.bench / "test.jsonl", f"hf:{model}", out)


def mine_other_seed(ctx: Ctx) -> list[object]:
    bench, out = ctx.write("b.jsonl", ctx.items(2)), ctx.tmp / "m.jsonl"
    first("mine", "--bench", bench, "--out", out, "--limit", 1)
    return ["mine", "--bench", bench, "--out", out, "--seed", 1]


def build_over_mined(ctx: Ctx) -> list[object]:
    cohort = ctx.bench.parent / "cohort"
    out = ctx.tmp / "bench"
    first("build", "--source", "synthetic", "--root", cohort, "--out", out,
          "--per-finding", 2, "--tasks", "binary")
    first("mine", "--bench", out / "train.jsonl", "--out", out / "mined.jsonl", "--limit", 2)
    return ["build", "--source", "synthetic", "--root", cohort, "--out", out, "--per-finding", 4,
            "--tasks", "binary"]


def llm_unreachable(command: str, url: Callable[[], str] = _dead_url
                    ) -> Callable[[Ctx], list[object]]:
    def make(ctx: Ctx) -> list[object]:
        common = ["--llm-url", url(), "--llm-model", "fake", "--llm-retries", 0]
        if command == "mine":
            return ["mine", "--bench", ctx.write("b.jsonl", ctx.items(2)), "--out",
                    ctx.tmp / "m.jsonl", "--backend", "llm", *common]
        return ["score", "--predictions", ctx.predictions("p.jsonl"), "--out", ctx.tmp / "s",
                "--judge", "llm", *common]
    return make


def _url_with_password() -> str:
    return _dead_url().replace("http://", "http://alice:hunter2pw@")


# -- checks some rows make beyond the message ------------------------------------------------

def no_output_lines(name: str) -> Callable[[Ctx], None]:
    def check(ctx: Ctx) -> None:
        path = ctx.tmp / name
        assert not path.exists() or not path.read_text().strip(), "failed items were written"
    return check


def label_error_line(ctx: Ctx) -> None:
    line = json.loads((ctx.tmp / "l.jsonl").read_text())
    assert "1,000,000" in line["error"] and line["labels"]["Edema"] is None


def mined_says_why(ctx: Ctx) -> None:
    record = json.loads((ctx.tmp / "m.jsonl").read_text())
    assert record["mining"]["status"] == "no report"
    assert "1,000,000" in record["mining"]["why"]


def bomb_not_predicted(ctx: Ctx) -> None:
    path = ctx.tmp / "p.jsonl"
    assert not path.exists() or not path.read_text().strip()


def nothing_saved_but_a_checkpoint(ctx: Ctx) -> None:
    assert (ctx.tmp / "sft" / "checkpoint-2" / "trainer_state.json").is_file()
    assert not (ctx.tmp / "sft" / "chestx_train.json").exists()


def model_untouched(ctx: Ctx) -> None:
    assert not list((ctx.tmp / "model").glob("checkpoint-*"))


def no_password_anywhere(ctx: Ctx) -> None:
    for path in ctx.tmp.rglob("*"):
        if path.is_file() and path.suffix in (".jsonl", ".json"):
            assert "hunter2pw" not in path.read_text(errors="replace"), path


class Case(NamedTuple):
    name: str
    make: Callable[[Ctx], list[object]]
    code: int
    fragment: str
    check: Callable[[Ctx], None] | None = None


NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")

CASES: list[Any] = [
    # 1. tracebacks become one-line errors or per-record error lines
    Case("label: report over spaCy's limit", label_long, 0, "errors 1", label_error_line),
    Case("mine: report over spaCy's limit", mine_long, 0, "no report 1", mined_says_why),
    Case("score: prediction over spaCy's limit", score_long("prediction"), 0, "scored 1 items"),
    Case("score: report over spaCy's limit", score_long("report"), 0, "scored 1 items"),
    Case("label: 100k-deep JSON", deep("label"), 2, "JSON nested too deeply"),
    Case("mine: 100k-deep JSON", deep("mine"), 2, "JSON nested too deeply"),
    Case("score: 100k-deep JSON", deep("score"), 2, "JSON nested too deeply"),
    Case("mine: answer not an option letter", mine_with(answer="Yes"), 2,
         "field 'answer' must be an option letter"),
    Case("mine: report not text", mine_with(report=7), 2, "field 'report' must be a string"),
    Case("mine: id not text", mine_with(id=[1]), 2, "field 'id' must be a string or integer"),
    Case("score: prediction not text", score_with(prediction=3), 2,
         "field 'prediction' must be a string"),
    Case("score: model not text", score_with(model={"a": 1}), 2, "field 'model' must be a string"),
    Case("score: report not text", score_with(report=["x"]), 2, "field 'report' must be a string"),
    Case("score: id not text", score_with(id={"x": 1}), 2,
         "field 'id' must be a string or integer"),
    Case("score: a binary file", score_binary, 2, "not UTF-8"),
    Case("bench stats: no task", stats_without_task, 2, "missing field 'task'"),
    Case("predict: 20000x20000 PNG", predict_bomb, 0, "skipped 1 unreadable image",
         bomb_not_predicted),
    Case("predict: --device tpu", predict_device("tpu"), 2, "--device 'tpu'"),
    pytest.param(Case("predict: --device cuda without CUDA", predict_device("cuda"), 2,
                      "no CUDA GPU"), marks=NO_CUDA, id="predict: --device cuda without CUDA"),
    Case("train sft: --out is a file", out_is_file("sft"), 2, "exists and is not a folder"),
    Case("train sft: --out unwritable", out_unwritable("sft"), 2, "cannot write"),
    Case("model init: --out is a file", out_is_file("init"), 2, "exists and is not a folder"),
    Case("model init: --out unwritable", out_unwritable("init"), 2, "cannot write"),
    Case("train sft: disk full while saving", sft_disk_full, 2,
         "(No space left on device); the last complete checkpoint is checkpoint-2",
         nothing_saved_but_a_checkpoint),
    # 2. silent wrong results are refused: Sample fields, then reruns that differ
    Case("predict: unknown task", predict_with(task="binaryy"), 2, "unknown task 'binaryy'"),
    Case("predict: images not a list", predict_with(images="a.png"), 2,
         "field 'images' must be a list"),
    Case("predict: question not text", predict_with(question=5), 2,
         "field 'question' must be a string"),
    Case("predict: gold answer not a letter", predict_with(answer="E)"), 2,
         "field 'answer' must be an option letter"),
    Case("score: no prediction", score_with(prediction=...), 2, "missing field 'prediction'"),
    Case("train grpo: unmined data", grpo_unmined, 2, "no item has a mined chain"),
    Case("model init: empty --data", init_empty_data, 2, "no records"),
    Case("label: other reports, same ids", label_rerun("reports"), 2, "from a different report"),
    Case("label: another --scope", label_rerun("scope"), 2, 'was made with scope "impression"'),
    Case("label: into a predictions file", label_into_predictions, 2,
         "was written by `chestx predict`"),
    Case("score: other predictions, same model and ids", score_other_file, 2,
         "from a different prediction"),
    Case("predict: another checkpoint, same name", predict_other_checkpoint, 2,
         "was made with checkpoint"),
    Case("mine: another --seed", mine_other_seed, 2, "was made with seed 0"),
    Case("build: into a folder with mined files", build_over_mined, 2, "not this build's"),
    # 3. no lost work
    Case("train sft: --out is --model", sft_out_is_model, 2, "is the model being trained",
         model_untouched),
    Case("mine llm: server unreachable", llm_unreachable("mine"), 1,
         "2 items failed (not written", no_output_lines("m.jsonl")),
    Case("score llm: server unreachable", llm_unreachable("score"), 1,
         "2 items not scored (not written"),
    Case("mine llm: credentials in the URL", llm_unreachable("mine", _url_with_password), 1,
         "http://***@127.0.0.1", no_password_anywhere),
]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_training_data(tmp_path_factory.mktemp("bad-inputs"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_bad_input(case: Case, shared: tuple[Path, Path], tmp_path: Path) -> None:
    mined, model = shared
    ctx = Ctx(tmp_path, mined.parent, mined, model)
    try:
        result = run(*case.make(ctx))
    finally:
        if os.geteuid() != 0 and (tmp_path / "read-only").exists():
            (tmp_path / "read-only").chmod(0o700)
    output = result.output
    assert "Traceback" not in output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{type(result.exception).__name__}: {result.exception}")
    assert result.exit_code == case.code, output
    assert case.fragment in output, output
    if case.code == 2:
        errors = [line for line in output.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, output  # one line, naming what is wrong
    if case.check is not None:
        case.check(ctx)
