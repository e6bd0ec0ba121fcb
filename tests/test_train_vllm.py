"""`chestx train grpo --use-vllm`: the `GRPOConfig` it builds, on a CPU (vLLM needs a GPU).

The command lines of docs/training.md's vLLM section run here as written (their `chestx` part),
with the training itself replaced by a stand-in that keeps the config: what reaches TRL must be
its 1.16 interface (`use_vllm`, `vllm_mode`, `vllm_server_base_url`, …), and an option the mode
ignores must be refused on one line.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from trl import GRPOConfig
from typer.testing import CliRunner

import chestx_reasoner.train.grpo as grpo
from chestx_reasoner.cli import app
from chestx_reasoner.train.configs import ChestXGRPOConfig

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
runner = CliRunner()


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[ChestXGRPOConfig]:
    """Configs `chestx train grpo` hands to `run_grpo`, which returns without training; vLLM
    counts as installed. Runs in a folder with the docs' bench/mined.jsonl and runs/sft."""
    configs: list[ChestXGRPOConfig] = []

    def fake_run(data: Path, model: str, config: ChestXGRPOConfig, **kwargs: Any) -> Any:
        configs.append(config)
        raise KeyboardInterrupt  # the command's own way out: prints how to resume, exit 130

    monkeypatch.setattr(grpo, "run_grpo", fake_run)
    monkeypatch.setattr(grpo, "require_vllm", lambda: None)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "mined.jsonl").write_text("{}\n")
    (tmp_path / "runs" / "sft").mkdir(parents=True)
    return configs


def docs_vllm_commands(text: str = DOCS, language: str = "bash") -> list[list[str]]:
    """The `chestx` arguments of every command line with --use-vllm in a page's blocks."""
    out = []
    for block in re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL):
        for command in block.replace("\\\n", " ").splitlines():
            if "--use-vllm" in command:
                args = shlex.split(command)
                out.append(args[args.index("chestx_reasoner.cli") + 1:])
    return out


def run(args: list[str], configs: list[ChestXGRPOConfig]) -> ChestXGRPOConfig:
    result = runner.invoke(app, args)
    assert result.exit_code == 130, result.output  # reached training
    return configs[-1]


def test_docs_command_lines_build_trl_vllm_configs(captured: list[ChestXGRPOConfig]) -> None:
    colocate, server = docs_vllm_commands()
    config = run(colocate, captured)
    assert isinstance(config, GRPOConfig)
    assert (config.use_vllm, config.vllm_mode) == (True, "colocate")
    assert (config.vllm_gpu_memory_utilization, config.vllm_tensor_parallel_size) == (0.3, 1)
    assert config.vllm_server_base_url is None
    config = run(server, captured)
    assert (config.use_vllm, config.vllm_mode) == (True, "server")
    assert config.vllm_server_base_url == "http://127.0.0.1:8000"
    # the rest of the run is the paper's GRPO either way
    assert (config.num_generations, config.beta, config.learning_rate) == (8, 0.001, 5e-7)
    assert config.per_device_train_batch_size == 8


def test_readme_command_line_builds_the_server_config(
        captured: list[ChestXGRPOConfig]) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (args,) = docs_vllm_commands(readme, "sh")
    config = run(args, captured)
    assert (config.use_vllm, config.vllm_mode, config.vllm_server_base_url) == (
        True, "server", "http://127.0.0.1:8000")


def test_options_map_onto_trl_fields(captured: list[ChestXGRPOConfig]) -> None:
    base = ["train", "grpo", "--data", "bench/mined.jsonl", "--model", "runs/sft", "--out", "o"]
    plain = run(base, captured)
    assert plain.use_vllm is False
    config = run([*base, "--use-vllm", "--vllm-gpu-memory-utilization", "0.55",
                  "--vllm-tensor-parallel-size", "2"], captured)
    assert (config.vllm_mode, config.vllm_gpu_memory_utilization,
            config.vllm_tensor_parallel_size) == ("colocate", 0.55, 2)
    config = run([*base, "--use-vllm", "--vllm-mode", "server"], captured)
    # TRL's own defaults: host 0.0.0.0, port 8000
    assert (config.vllm_server_base_url, config.vllm_server_host, config.vllm_server_port) == (
        None, "0.0.0.0", 8000)
    names = {field.name for field in dataclasses.fields(GRPOConfig)}
    assert {"use_vllm", "vllm_mode", "vllm_server_base_url", "vllm_gpu_memory_utilization",
            "vllm_tensor_parallel_size"} <= names


@pytest.mark.parametrize("extra, message", [
    (["--vllm-mode", "server"], "--vllm-mode needs --use-vllm"),
    (["--vllm-server-url", "http://127.0.0.1:8000"], "--vllm-server-url needs --use-vllm"),
    (["--use-vllm", "--vllm-mode", "server", "--vllm-gpu-memory-utilization", "0.5"],
     "--vllm-gpu-memory-utilization does not apply to --vllm-mode server"),
    (["--use-vllm", "--vllm-server-url", "http://127.0.0.1:8000"],
     "--vllm-server-url does not apply to --vllm-mode colocate"),
    (["--use-vllm", "--vllm-mode", "server", "--vllm-server-url", "127.0.0.1:8000"],
     "must start with http:// or https://"),
])
def test_bad_combinations_fail_on_one_line(captured: list[ChestXGRPOConfig], extra: list[str],
                                           message: str) -> None:
    base = ["train", "grpo", "--data", "bench/mined.jsonl", "--model", "runs/sft", "--out", "o"]
    result = runner.invoke(app, [*base, *extra])
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert not captured


def test_config_rejects_an_unknown_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="vllm_mode must be one of colocate, server"):
        ChestXGRPOConfig(output_dir=str(tmp_path), use_vllm=True, vllm_mode="remote")
