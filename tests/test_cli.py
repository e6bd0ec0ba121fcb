"""The `chestx` CLI: version, help, package layout, and `label` (streaming, resume, bad input)."""

from __future__ import annotations

import ast
import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import chestx_reasoner.cli
from chestx_reasoner import __version__
from chestx_reasoner.cli import app
from chestx_reasoner.reports import CHEXPERT_OBSERVATIONS
from chestx_reasoner.reports.labeler import ReportLabeler

runner = CliRunner()

REPORTS = [
    {"id": "s1", "report": "FINDINGS: The heart is enlarged. IMPRESSION: Cardiomegaly.",
     "source": "synthetic", "split": "train"},
    {"id": "s2", "report": "IMPRESSION: No acute cardiopulmonary process."},
    {"id": "s3", "report": "FINDINGS: Small left pleural effusion. IMPRESSION: Left effusion."},
    {"id": "s4", "report": "IMPRESSION: Right pneumothorax. No effusion."},
    {"id": "s5", "report": "FINDINGS: Lungs are clear. IMPRESSION: Normal chest."},
    {"id": "s6", "report": "IMPRESSION: Possible right lower lobe pneumonia."},
]
LABEL_VALUES = {1, 0, -1, None}


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def label(*args: str | Path):
    return runner.invoke(app, ["label", *map(str, args)])


def assert_labeled(line: dict) -> None:
    assert list(line["labels"]) == list(CHEXPERT_OBSERVATIONS)
    assert len(line["labels"]) == 14
    assert set(line["labels"].values()) <= LABEL_VALUES
    assert isinstance(line["findings"], list)
    assert "error" not in line
    for finding in line["findings"]:
        assert {"name", "status", "mention", "evidence", "section"} <= set(finding)
        assert finding["status"] in {"present", "absent", "uncertain"}


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"chestx-reasoner {__version__}"


def test_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ["label", "synth", "build", "mine", "predict", "score", "compare", "demo",
                    "bench", "model", "train", "export"]:
        assert f" {command} " in result.stdout



def _command_paths() -> Iterator[list[str]]:
    """Every command and group of the app, as the argv that reaches it ([] for the root)."""
    import typer

    def walk(command: object, path: list[str]) -> Iterator[list[str]]:
        yield path
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    yield from walk(typer.main.get_command(app), [])


def test_help_strings_hold_no_rich_markup() -> None:
    """Help is rendered as rich markup: square brackets there vanish from `--help`."""
    import typer
    from rich.text import Text

    def walk(command: object) -> Iterator[object]:
        yield command
        for sub in getattr(command, "commands", {}).values():
            yield from walk(sub)

    for command in walk(typer.main.get_command(app)):
        helps = [command.help or "", *(getattr(p, "help", None) or "" for p in command.params)]
        for text in helps:
            assert Text.from_markup(text).plain == text, (command.name, text)


def test_help_texts_keep_every_word() -> None:
    """Rich markup in help text ('[default: 0]') is swallowed and leaves 'Random seed .'."""
    paths = list(_command_paths())
    assert ["train", "grpo"] in paths and ["export", "lmms-eval"] in paths
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "100"},
                               terminal_width=100)
        assert result.exit_code == 0, (path, result.output)
        for line in result.stdout.splitlines():
            text = line.strip("│ ")
            assert not re.search(r"(^|\s)[.,;:)](\s|$)|\(\s*\)|\[\s*\]", text), (path, line)



def test_help_paragraphs_are_not_broken_where_the_source_wraps() -> None:
    """Typer keeps a docstring's single line breaks; `--help` showed 'predictions' / 'of four
    models' on two lines of the command list, wherever the terminal's width."""
    import typer

    root = typer.main.get_command(app)
    commands = [*root.commands.values(), *root.commands["train"].commands.values()]
    for command in commands:
        for paragraph in (command.help or "").split("\n\n"):
            assert "\n" not in paragraph, (command.name, paragraph)
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "100"}, terminal_width=100)
    lines = [line.strip("│ ") for line in result.stdout.splitlines()]
    assert "predictions of four models, RadRScore and accuracy, and DIR/report.html." in lines


def test_every_pipeline_command_exists() -> None:
    built = {c.name for c in app.registered_commands}
    assert {"label", "synth", "build", "mine", "predict", "score", "compare", "demo"} <= built
    for group, command in (("bench", "stats"), ("model", "init"), ("train", "sft"),
                           ("train", "grpo"), ("export", "verl"), ("export", "lmms-eval")):
        typer_group = next(g.typer_instance for g in app.registered_groups if g.name == group)
        assert command in {c.name for c in typer_group.registered_commands}


def test_command_modules_import_only_the_shared_common_module() -> None:
    """No import circle: a command module takes its helpers from `cli.common`, never from the
    package that imports it."""
    package = Path(chestx_reasoner.cli.__file__).parent
    modules = sorted(p for p in package.glob("*.py") if p.stem not in {"__init__", "__main__"})
    assert {p.stem for p in modules} >= {"common", "label", "data", "demo", "export", "mine",
                                         "model", "score", "train"}
    for path in modules:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "chestx_reasoner.cli"):
                assert node.module == "chestx_reasoner.cli.common", f"{path.name}: {node.module}"


def test_label_jsonl(tmp_path: Path) -> None:
    reports = write_jsonl(tmp_path / "reports.jsonl", REPORTS)
    out = tmp_path / "out" / "labels.jsonl"
    result = label("--reports", reports, "--out", out)
    assert result.exit_code == 0, result.output
    lines = read_jsonl(out)
    assert [line["id"] for line in lines] == [r["id"] for r in REPORTS]
    for line, record in zip(lines, REPORTS, strict=True):
        assert_labeled(line)
        assert {k: line[k] for k in record} == record  # every input key kept, report included
        assert next(iter(line)) == "id"
    assert lines[0]["source"] == "synthetic"
    assert lines[0]["labels"]["Cardiomegaly"] == 1
    assert "labeled 6, skipped 0 already in" in result.stderr
    assert "errors 0" in result.stderr


def test_label_csv(tmp_path: Path) -> None:
    reports = tmp_path / "reports.csv"
    with reports.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "report", "source"])
        writer.writeheader()
        writer.writerow({"id": "c1", "report": "FINDINGS: Heart is enlarged,\nIMPRESSION: "
                         "Cardiomegaly.", "source": "openi"})
        writer.writerow({"id": "c2", "report": "IMPRESSION: Normal chest.", "source": "openi"})
    out = tmp_path / "labels.jsonl"
    result = label("--reports", reports, "--out", out, "--scope", "report", "--batch-size", "1")
    assert result.exit_code == 0, result.output
    lines = read_jsonl(out)
    assert [line["id"] for line in lines] == ["c1", "c2"]
    for line in lines:
        assert_labeled(line)
        assert line["source"] == "openi"
    assert lines[0]["report"].startswith("FINDINGS: Heart is enlarged,\n")


def test_label_limit_takes_the_first_records(tmp_path: Path) -> None:
    reports = write_jsonl(tmp_path / "reports.jsonl", REPORTS)
    out = tmp_path / "labels.jsonl"
    assert label("--reports", reports, "--out", out, "--limit", "2").exit_code == 0
    assert [line["id"] for line in read_jsonl(out)] == ["s1", "s2"]
    rerun = label("--reports", reports, "--out", out, "--limit", "2")
    assert "nothing to do" in rerun.stderr


def test_resume_after_crash(tmp_path: Path) -> None:
    reports = write_jsonl(tmp_path / "reports.jsonl", REPORTS)
    reference = tmp_path / "reference.jsonl"
    assert label("--reports", reports, "--out", reference).exit_code == 0
    complete = reference.read_text(encoding="utf-8").splitlines(keepends=True)

    # A crash after 3 records, in the middle of writing the 4th (the run had recorded its
    # settings beside the output before its first record).
    out = tmp_path / "labels.jsonl"
    out.write_text("".join(complete[:3]) + complete[3][: len(complete[3]) // 2], encoding="utf-8")
    (tmp_path / "labels.run.json").write_bytes((tmp_path / "reference.run.json").read_bytes())
    result = label("--reports", reports, "--out", out)
    assert result.exit_code == 0, result.output
    assert "labeled 3, skipped 3 already in" in result.stderr
    assert out.read_text(encoding="utf-8") == "".join(complete)  # no id twice, none lost
    ids = [line["id"] for line in read_jsonl(out)]
    assert sorted(ids) == sorted(set(ids)) == sorted(r["id"] for r in REPORTS)


def test_interrupted_run_keeps_its_work_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = write_jsonl(tmp_path / "reports.jsonl", REPORTS)
    out = tmp_path / "labels.jsonl"
    real_label_many = ReportLabeler.label_many

    def interrupted(self: ReportLabeler, texts, batch_size: int = 64) -> Iterator:
        for count, result in enumerate(real_label_many(self, texts, batch_size=1)):
            if count == 2:
                raise KeyboardInterrupt
            yield result

    monkeypatch.setattr(ReportLabeler, "label_many", interrupted)
    result = label("--reports", reports, "--out", out)
    assert result.exit_code == 130
    assert "rerun the same command to resume" in result.stderr
    assert [line["id"] for line in read_jsonl(out)] == ["s1", "s2"]

    monkeypatch.setattr(ReportLabeler, "label_many", real_label_many)
    result = label("--reports", reports, "--out", out)
    assert result.exit_code == 0
    assert "labeled 4, skipped 2 already in" in result.stderr
    assert [line["id"] for line in read_jsonl(out)] == [r["id"] for r in REPORTS]


def test_rerun_after_completion_does_nothing(tmp_path: Path) -> None:
    reports = write_jsonl(tmp_path / "reports.jsonl", REPORTS)
    out = tmp_path / "labels.jsonl"
    assert label("--reports", reports, "--out", out).exit_code == 0
    before = out.read_bytes()
    result = label("--reports", reports, "--out", out)
    assert result.exit_code == 0
    assert f"nothing to do: all 6 records are already in {out}" in result.stderr
    assert out.read_bytes() == before


def test_unusable_reports_get_an_error_line(tmp_path: Path) -> None:
    records = [{"id": "e1", "report": ""}, {"id": "e2", "report": None},
               {"id": "e3", "report": 42}, {"id": "ok", "report": "IMPRESSION: Cardiomegaly."},
               {"id": "e4", "report": "   \n "}]
    reports = write_jsonl(tmp_path / "reports.jsonl", records)
    out = tmp_path / "labels.jsonl"
    result = label("--reports", reports, "--out", out)
    assert result.exit_code == 0, result.output
    lines = {line["id"]: line for line in read_jsonl(out)}
    assert list(lines) == ["e1", "e2", "e3", "ok", "e4"]
    for rid in ("e1", "e2", "e3", "e4"):
        assert lines[rid]["error"]
        assert lines[rid]["findings"] == []
        assert lines[rid]["labels"] == dict.fromkeys(CHEXPERT_OBSERVATIONS)
    assert lines["e1"]["error"] == "report is empty"
    assert "text" in lines["e3"]["error"]
    assert_labeled(lines["ok"])
    assert "labeled 1, skipped 0 already in" in result.stderr
    assert "errors 4" in result.stderr


def test_input_keys_named_like_outputs_are_kept_renamed(tmp_path: Path) -> None:
    records = [{"id": "k1", "report": "IMPRESSION: Cardiomegaly.", "labels": {"Cardiomegaly": 1},
                "error": "old"}]
    out = tmp_path / "labels.jsonl"
    result = label("--reports", write_jsonl(tmp_path / "r.jsonl", records), "--out", out)
    assert result.exit_code == 0
    [line] = read_jsonl(out)
    assert line["input_labels"] == {"Cardiomegaly": 1}
    assert line["input_error"] == "old"
    assert "error" not in line
    assert_labeled(line)


def bad_input_case(tmp_path: Path, content: str, name: str = "reports.jsonl"):
    reports = tmp_path / name
    reports.write_text(content, encoding="utf-8")
    out = tmp_path / "labels.jsonl"
    return reports, out, label("--reports", reports, "--out", out)


def assert_one_line_error(result, expected: str) -> None:
    assert result.exit_code == 2
    assert result.stderr == f"error: {expected}\n"
    assert "Traceback" not in result.output


def test_invalid_json_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    reports, out, result = bad_input_case(
        tmp_path, '{"id": "a", "report": "Normal."}\n{"id": "b" "report": "x"}\n')
    assert_one_line_error(result, f"{reports}:2: invalid JSON (Expecting ',' delimiter)")
    assert not out.exists()


def test_missing_report_field(tmp_path: Path) -> None:
    reports, _, result = bad_input_case(
        tmp_path, '{"id": "a", "report": "Normal."}\n\n{"id": "b", "text": "x"}\n')
    assert_one_line_error(result, f"{reports}:3: missing field 'report'")


def test_missing_id_field_in_csv(tmp_path: Path) -> None:
    reports, _, result = bad_input_case(tmp_path, "study,report\n1,Normal.\n", name="r.csv")
    assert_one_line_error(result, f"{reports}:2: missing field 'id'")


def test_duplicate_id(tmp_path: Path) -> None:
    reports, _, result = bad_input_case(
        tmp_path, "".join(json.dumps({"id": i, "report": "Normal chest."}) + "\n"
                          for i in ["a", "b", "a"]))
    assert_one_line_error(result, f"{reports}:3: duplicate id 'a' (first seen on line 1)")


def test_bad_input_keeps_earlier_work(tmp_path: Path) -> None:
    reports = write_jsonl(tmp_path / "reports.jsonl", REPORTS[:2])
    out = tmp_path / "labels.jsonl"
    assert label("--reports", reports, "--out", out).exit_code == 0
    before = out.read_bytes()
    with reports.open("a", encoding="utf-8") as handle:
        handle.write('{"id": "s3", "report": "Normal."}\n{"id": "s4"\n')
    result = label("--reports", reports, "--out", out)
    assert_one_line_error(result, f"{reports}:4: invalid JSON (Expecting ',' delimiter)")
    assert out.read_bytes() == before


def test_missing_input_file(tmp_path: Path) -> None:
    result = label("--reports", tmp_path / "nope.jsonl", "--out", tmp_path / "o.jsonl")
    assert_one_line_error(result, f"{tmp_path / 'nope.jsonl'}: cannot read (No such file or "
                                  "directory)")


def test_out_must_differ_from_reports(tmp_path: Path) -> None:
    reports = write_jsonl(tmp_path / "reports.jsonl", REPORTS)
    result = label("--reports", reports, "--out", reports)
    assert_one_line_error(result, "--out must be a different file from --reports")
    assert read_jsonl(reports) == REPORTS


def test_bad_scope_is_a_usage_error(tmp_path: Path) -> None:
    reports = write_jsonl(tmp_path / "reports.jsonl", REPORTS)
    result = label("--reports", reports, "--out", tmp_path / "o.jsonl", "--scope", "findings")
    assert result.exit_code == 2
    assert "findings" in result.stderr
    assert not (tmp_path / "o.jsonl").exists()


def test_cli_quiets_nlp_loggers_and_masks_secrets(tmp_path: Path) -> None:
    import logging

    from chestx_reasoner.logging_setup import RedactingFilter, redact

    assert runner.invoke(app, ["-v", "demo", "--help"]).exit_code == 0
    for name in ("PyRuSH", "PyFastNER", "medspacy"):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO)
    assert logging.getLogger("chestx_reasoner").isEnabledFor(logging.DEBUG)  # -v
    assert redact("key api_key=abc123, max_tokens=5") == "key api_key=***, max_tokens=5"
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token=%s", ("hunter2",), None)
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "token=***"


@pytest.mark.parametrize(("flag", "expected"), [((), None), (("--fused-lm-head",), True),
                                                (("--full-logits",), False)])
def test_sft_loss_path_is_a_cli_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       flag: tuple[str, ...], expected: bool | None) -> None:
    from chestx_reasoner.train import sft

    seen = {}

    def fake_run(data, model, config, **kwargs):
        seen["fused_lm_head"] = config.fused_lm_head
        raise sft.TrainError("stop here")

    monkeypatch.setattr(sft, "run_sft", fake_run)
    data = write_jsonl(tmp_path / "mined.jsonl", [{"id": "a"}])
    result = runner.invoke(app, ["train", "sft", "--data", str(data), "--model", "hf:x",
                                 "--out", str(tmp_path / "out"), *flag])
    assert result.exit_code == 2 and "stop here" in result.output, result.output
    assert seen == {"fused_lm_head": expected}
