"""The GPU suite's CPU path: every section runs at the tiny shape and fills its table row with a
measured number, the GRPO step goes through `chestx train grpo`'s trainer, and the device
script carries what a bare GPU machine lacks."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_suite  # noqa: E402

README = (ROOT / "README.md").read_text(encoding="utf-8")


def number(text: str) -> float:
    return float(text.replace(",", "").rstrip("%"))


def test_readme_command_measures_every_section_on_cpu() -> None:
    (line,) = [line for line in README.splitlines() if "benchmarks/gpu_suite.py" in line]
    args = shlex.split(line)
    assert args[:2] == ["python", "benchmarks/gpu_suite.py"]
    rows = gpu_suite.main(args[2:])
    measures = [row[0] for row in rows]
    values = {row[0]: row[1] for row in rows}
    notes = {row[0]: row[3] for row in rows}
    assert measures == ["SFT tokens/s", "SFT MFU", "generation tokens/s (dynamic)",
                        "GRPO step seconds", "judge items/s"]
    assert all(number(value) > 0 for value in values.values()), values
    assert "format+outcome+process" in notes["GRPO step seconds"]  # the judge is installed here
    assert re.fullmatch(r"\d+\.\d%", values["SFT MFU"])


def test_sections_and_shapes_are_checked() -> None:
    args = gpu_suite.parse(["--device", "cpu", "--sections", "sft,judge", "--steps", "3"])
    assert (args.shape, args.sections, args.steps, args.sft_batch) == (
        "tiny", ["sft", "judge"], 3, 2)
    big = gpu_suite.parse(["--device", "cuda"])
    assert (big.shape, big.gen_batch, big.new_tokens) == ("2b", 32, 256)
    shape = gpu_suite.SHAPES["2b"]["text_config"]
    assert (shape["hidden_size"], shape["num_hidden_layers"], shape["vocab_size"]) == (
        1536, 28, 151936)  # Qwen2-VL-2B's published shape


def test_device_script_installs_carried_wheels_first() -> None:
    script = (ROOT / "benchmarks" / "gpu_suite.sh").read_text()
    install = script.index("--target /tmp/site")
    assert install < script.index("python3 benchmarks/gpu_suite.py")
    wanted = {line.split("==")[0] for line in
              (ROOT / "benchmarks" / "gpu_wheels.txt").read_text().splitlines()
              if line and not line.startswith("#")}
    assert {"trl", "datasets", "transformers"} <= wanted
    pins = dict(line.split("==") for line in
                (ROOT / "requirements" / "constraints.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    for line in (ROOT / "benchmarks" / "gpu_wheels.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            assert pins.get(name) == version, name  # the versions CI tests
