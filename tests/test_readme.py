"""The README's examples run as written, so the README cannot rot."""

import json
import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from chestx_reasoner.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def blocks(language: str, real_data: bool = False) -> list[str]:
    """The README's code blocks; the 'On real data' one only when asked for (its own test)."""
    found = re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)
    return [b for b in found if ("--source mimic-cxr" in b) == real_data]


def test_readme_opens_with_the_two_setup_commands():
    first = blocks("bash")[0]
    assert [line.split("#")[0].strip() for line in first.strip().splitlines()] == [
        "make demo", "make test"]


def test_docs_stand_alone_every_relative_link_resolves():
    """The docs cite only files that ship in the repository (no brief kept outside it)."""
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        assert "DESIGN.md" not in text, doc
        for target in re.findall(r"\]\(([^)#\s]+)\)", text):
            if "://" not in target:
                assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"


def test_python_example_gives_the_output_it_shows():
    (example,) = blocks("python")
    namespace: dict = {}
    exec(compile(example, "README.md", "exec"), namespace)  # our own README, not data
    report = namespace["report"]
    shown = [(f.name, f.status, f.section) for f in report.findings]
    assert repr(shown) in example
    assert report.labels["Cardiomegaly"] == 1


def test_label_command_in_readme_runs(tmp_path, monkeypatch):
    line = next(line for block in blocks("bash") for line in block.splitlines()
                if "chestx label" in line)
    args = shlex.split(line)[1:]  # drop the .venv/bin/chestx program name
    monkeypatch.chdir(ROOT)
    args[args.index("--out") + 1] = str(tmp_path / "labels.jsonl")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "labels.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len((ROOT / "examples" / "reports.jsonl").read_text().splitlines())


def test_synth_command_in_readme_runs_and_writes_the_layout_it_shows(tmp_path):
    line = next(line for block in blocks("bash") for line in block.splitlines()
                if "chestx synth" in line)
    args = shlex.split(line)[1:]
    out = tmp_path / "cohort"
    args[args.index("--out") + 1] = str(out)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    layout = next(block for block in blocks("text") if "mimic-cxr-2.0.0-metadata.csv" in block)
    for entry in layout.splitlines():
        path = entry.split()[0].removeprefix("cohort/")
        if "<" not in path and "N" not in path:
            assert (out / path).exists(), path
    assert len(list(out.glob("files/p1?/p1*/s5*/*.jpg"))) == 200
    assert len(list(out.glob("files/p1?/p1*/s5*.txt"))) == 200


def test_build_and_stats_commands_in_readme_run_on_the_readme_cohort(tmp_path, monkeypatch):
    synth = next(line for block in blocks("bash") for line in block.splitlines()
                 if "chestx synth" in line)
    build = next(line for block in blocks("bash") for line in block.splitlines()
                 if "chestx build" in line)
    stats = next(line for block in blocks("bash") for line in block.splitlines()
                 if "chestx bench stats" in line)
    mine = next(line for block in blocks("bash") for line in block.splitlines()
                if "chestx mine" in line)
    monkeypatch.chdir(tmp_path)  # the README's relative folders land here
    for line in (synth, build, stats, mine):
        result = CliRunner().invoke(app, shlex.split(line)[1:])
        assert result.exit_code == 0, (line, result.output)
    assert (tmp_path / "bench" / "test.parquet").exists()
    mined = (tmp_path / "bench" / "mined.jsonl").read_text().splitlines()
    assert len(mined) == len((tmp_path / "bench" / "train.jsonl").read_text().splitlines())


def test_score_command_in_readme_runs_on_the_example_predictions(tmp_path, monkeypatch):
    line = next(line for block in blocks("bash") for line in block.splitlines()
                if "chestx score" in line)
    args = shlex.split(line)[1:]
    monkeypatch.chdir(ROOT)
    args[args.index("--out") + 1] = str(tmp_path / "scored")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    for name in ("items.jsonl", "summary.json", "report.html"):
        assert (tmp_path / "scored" / name).exists()
    summary = json.loads((tmp_path / "scored" / "summary.json").read_text())
    models = summary["models"]
    assert models["careful-model"]["overall"]["radrscore"] > models["hasty-model"]["overall"][
        "radrscore"]


def test_model_commands_in_readme_run_on_the_readme_benchmark(tmp_path, monkeypatch):
    lines = [line for block in blocks("bash") for line in block.splitlines()
             if any(f"chestx {c}" in line for c in ("synth", "build", "model init", "predict"))]
    monkeypatch.chdir(tmp_path)
    for line in lines:
        args = shlex.split(line)[1:]
        if args[0] == "predict":
            args += ["--limit", "12", "--device", "cpu"]  # the full split is the same code
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, (line, result.output)
    assert (tmp_path / "runs" / "tiny" / "model.safetensors").exists()
    for name in ("tiny-test.jsonl", "reference-test.jsonl"):
        records = [json.loads(x) for x in (tmp_path / "runs" / name).read_text().splitlines()]
        assert len(records) == 12 and all("prediction" in r and r["model"] for r in records)


def test_train_commands_in_readme_run_for_a_few_steps(tmp_path, monkeypatch):
    wanted = ("synth", "build", "mine", "model init", "train vision", "train sft",
              "train grpo")
    lines = [line for block in blocks("bash") for line in block.splitlines()
             if any(f"chestx {c}" in line for c in wanted)]
    monkeypatch.chdir(tmp_path)
    short = {"vision": ["--max-steps", "2", "--batch-size", "4"],
             "sft": ["--max-steps", "2", "--batch-size", "2"],  # later options win
             "grpo": ["--max-steps", "1", "--num-generations", "2",
                      "--max-completion-length", "8"]}
    for line in lines:
        args = shlex.split(line)[1:]
        if args[0] == "train":
            args += short[args[1]]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, (line, result.output)
    for run in ("vision", "base", "sft", "grpo"):
        assert (tmp_path / "runs" / run / "model.safetensors").exists()


def _judge_or_miner(miner):  # type: ignore[no-untyped-def]
    """One fake OpenAI-compatible model for both the miner's passes and the judge's calls."""

    def answer(request: dict):  # type: ignore[no-untyped-def]
        text = request["messages"][-1]["content"]
        if "Model steps:" in text:
            return ("json", {"verdicts": [{"step": 0, "verdict": "supported", "evidence": "x"}]})
        if "Reference reasoning:" in text:
            return ("json", {"reference_findings": [
                {"finding": "effusion", "status": "present", "recalled": True}],
                "prediction_findings": [
                {"finding": "effusion", "status": "present", "supported_by_report": True}]})
        return miner(request)

    return answer


def test_real_data_commands_run_with_small_stand_ins(tmp_path, monkeypatch):
    """The 'On real data' block, each line as written, with stand-ins: the synthetic cohort for
    MIMIC-CXR-JPG + MS-CXR-T (it is written in their layout), CheXpert Plus's test fixture, the
    tiny model for Qwen2-VL-7B, a local chat server for vLLM and the hosted judge, one step of
    training without `accelerate launch` (its config must exist and parse), a few items."""
    import yaml

    from llm_server import FakeChatServer
    from test_mining_llm import fake_model
    from test_sources_chexpert_openi import make_plus

    (block,) = blocks("bash", real_data=True)
    lines = [line for line in block.splitlines() if line.strip()]
    assert [shlex.split(line)[0] for line in lines] == [
        ".venv/bin/chestx", ".venv/bin/chestx", "accelerate", "accelerate", ".venv/bin/chestx",
        ".venv/bin/chestx"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "zq-test-key")
    runner = CliRunner()
    made = runner.invoke(app, ["synth", "--out", "mimic-cxr-jpg", "--n", "60", "--seed", "1"])
    assert made.exit_code == 0, made.output
    (tmp_path / "chexpert-plus").mkdir()
    make_plus(tmp_path / "chexpert-plus")
    tiny = runner.invoke(app, ["model", "init", "--out", "tiny"])
    assert tiny.exit_code == 0, tiny.output
    extra = {"mine": ["--limit", "6"], "sft": ["--max-steps", "1"],
             "grpo": ["--max-steps", "1", "--max-completion-length", "16"],
             "predict": ["--limit", "4", "--max-new-tokens", "16"]}
    with FakeChatServer(default=_judge_or_miner(fake_model())) as server:
        for line in lines:
            args = shlex.split(line)
            if args[0] == "accelerate":
                config = ROOT / args[args.index("--config_file") + 1]
                assert isinstance(yaml.safe_load(config.read_text()), dict), config
                args = args[args.index("chestx_reasoner.cli") + 1:]
            else:
                args = args[1:]
            args = [f"hf:{tmp_path / 'tiny'}" if a == "hf:Qwen/Qwen2-VL-7B-Instruct" else a
                    for a in args]
            if "--llm-url" in args:
                args[args.index("--llm-url") + 1] = server.url
            stage = args[1] if args[0] == "train" else args[0]
            result = runner.invoke(app, args + extra.get(stage, []))
            assert result.exit_code == 0, (line, result.output[-2000:])
        judged = [r for r in server.requests if "Model reasoning:" in
                  r.json["messages"][-1]["content"]]
        assert judged and all(r.headers["authorization"] == "Bearer zq-test-key" for r in judged)
    stats = json.loads((tmp_path / "radrbench" / "manifest.json").read_text())
    assert [s["name"] for s in stats["sources"]] == ["mimic-cxr", "ms-cxr-t", "chexpert-plus"]
    assert (tmp_path / "runs" / "grpo" / "config.json").exists()
    summary = json.loads((tmp_path / "scored" / "summary.json").read_text())
    assert summary["models"]["grpo"]["overall"]["n"] == 4
