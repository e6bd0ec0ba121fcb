"""The shipped `accelerate launch` configs, read by accelerate 1.15's own code (issue 9).

Each YAML goes the way `accelerate launch --config_file` takes it: loaded by its config class
(unknown keys are an error there), merged into the launch arguments, turned into the launcher's
environment, and read back by the DeepSpeed / FSDP plugin that the trainer's Accelerator builds.
No GPU and no DeepSpeed install is needed for any of it.
"""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

import pytest
from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file
from accelerate.commands.launch import _validate_launch_command, launch_command_parser
from accelerate.utils import DeepSpeedPlugin, DistributedType, FullyShardedDataParallelPlugin
from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env
from torch.distributed.fsdp import CPUOffloadPolicy

CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "accelerate"
QWEN2_VL_WRAP = ["Qwen2VLDecoderLayer", "Qwen2VLVisionBlock"]


def launch_env(name: str) -> tuple[ClusterConfig, dict[str, str]]:
    """The environment `accelerate launch --config_file NAME.yaml -m …` gives its processes."""
    parser = launch_command_parser()
    args = parser.parse_args(["--config_file", str(CONFIGS / f"{name}.yaml"), "-m",
                              "chestx_reasoner.cli", "train"])
    args, defaults, _ = _validate_launch_command(args)
    if args.use_deepspeed:
        args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)
        _, env = prepare_deepspeed_cmd_env(args)
    else:
        env = prepare_multi_gpu_env(args)
    return defaults, env


@pytest.mark.parametrize("name", ["zero2", "zero3", "fsdp"])
def test_one_node_of_eight_gpus_in_bf16(name):
    config = load_config_from_file(str(CONFIGS / f"{name}.yaml"))
    assert isinstance(config, ClusterConfig)
    assert config.num_processes == 8
    assert config.num_machines == 1
    assert config.mixed_precision == "bf16"
    assert config.use_cpu is False
    _, env = launch_env(name)
    assert env["ACCELERATE_MIXED_PRECISION"] == "bf16"


@pytest.mark.parametrize("name, stage", [("zero2", 2), ("zero3", 3)])
def test_deepspeed_zero(name, stage):
    config = ClusterConfig.from_yaml_file(str(CONFIGS / f"{name}.yaml"))
    assert config.distributed_type == DistributedType.DEEPSPEED
    assert config.deepspeed_config["zero_stage"] == stage
    assert "deepspeed_config_file" not in config.deepspeed_config
    _, env = launch_env(name)
    with mock.patch.dict(os.environ, env):
        plugin = DeepSpeedPlugin()
    ds = plugin.deepspeed_config
    assert ds["zero_optimization"]["stage"] == stage
    assert ds["zero_optimization"]["offload_optimizer"]["device"] == "none"
    assert ds["zero_optimization"]["offload_param"]["device"] == "none"
    # Left to the trainer: HF's Trainer fills "auto" from --grad-accum and max_grad_norm.
    assert ds["gradient_accumulation_steps"] == "auto"
    assert ds["gradient_clipping"] == "auto"
    assert ds["train_micro_batch_size_per_gpu"] == "auto"


def test_zero3_saves_an_ordinary_checkpoint():
    _, env = launch_env("zero3")
    with mock.patch.dict(os.environ, env):
        plugin = DeepSpeedPlugin()
    assert plugin.zero3_init_flag is True
    assert plugin.deepspeed_config["zero_optimization"][
        "stage3_gather_16bit_weights_on_model_save"] is True


def test_fsdp_full_shard_wraps_qwen2_vl_blocks():
    config = ClusterConfig.from_yaml_file(str(CONFIGS / "fsdp.yaml"))
    assert config.distributed_type == DistributedType.FSDP
    _, env = launch_env("fsdp")
    with mock.patch.dict(os.environ, env):
        plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 2
    assert plugin.reshard_after_forward is True  # FSDP2's FULL_SHARD
    assert plugin.transformer_cls_names_to_wrap == QWEN2_VL_WRAP
    assert plugin.auto_wrap_policy.__name__ == "transformer_auto_wrap_policy"
    assert not isinstance(plugin.cpu_offload, CPUOffloadPolicy)  # offload off
    assert plugin.state_dict_type.name == "FULL_STATE_DICT"


def test_wrap_classes_exist_in_transformers():
    modeling = pytest.importorskip("transformers.models.qwen2_vl.modeling_qwen2_vl")
    for name in QWEN2_VL_WRAP:
        assert isinstance(getattr(modeling, name, None), type), name
    # The model's own no-split list names the same blocks: wrapping them never splits a layer.
    assert set(QWEN2_VL_WRAP) <= set(modeling.Qwen2VLForConditionalGeneration._no_split_modules)
