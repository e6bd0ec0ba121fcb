"""Run configs: TRL's `SFTConfig` / `GRPOConfig` plus only the fields this project adds.

Why subclasses: every TRL option (batching, schedules, checkpointing, DeepSpeed/FSDP through
accelerate) stays available under its own name, while our few fields carry `help` and are
checked in `__post_init__` with a message that says how to fix them. Two TRL defaults change:
precision and gradient checkpointing follow the device (bf16 + checkpointing on a GPU, fp32
without checkpointing on a CPU, where bf16 autocast is slow and memory is rarely the limit),
and GRPO starts from the paper's settings (8 generations, KL beta 1e-3, lr 5e-7).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import GRPOConfig, SFTConfig

from chestx_reasoner.train import KEEP_CHECKPOINTS, SAVE_STEPS

# LoRA on the language model's attention and MLP projections only: the vision tower (`qkv`,
# `fc1`…) and the merger stay frozen, as in the paper's recipe of tuning the LLM on reasoning.
LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
REWARD_NAMES = ("format", "outcome", "process")
# TRL's vLLM modes: generation on the training GPUs, or by a separate `trl vllm-serve`.
VLLM_MODES = ("colocate", "server")


def _on_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def _device_defaults(config: SFTConfig | GRPOConfig) -> None:
    """bf16 and gradient checkpointing where left unset (None): on for a GPU, off for a CPU."""
    gpu = _on_gpu() and not config.use_cpu
    if config.bf16 is None:
        import torch

        config.bf16 = gpu and not config.fp16 and torch.cuda.is_bf16_supported()
    # Transformers 5 renamed the option `activation_checkpointing` (the old name is an alias
    # that warns when set); resolve the new one so the alias just mirrors it.
    if config.activation_checkpointing is None and config.gradient_checkpointing is None:
        config.activation_checkpointing = gpu
    if not gpu:
        config.dataloader_pin_memory = False  # nothing to pin for; PyTorch warns otherwise


@dataclass
class ChestXSFTConfig(SFTConfig):
    """SFT on mined chains mixed with answer-only targets."""

    answer_only_ratio: float = field(default=0.5, metadata={
        "help": "Share of answer-only examples in the mix (the paper trains on both): 0 = chains "
                "only, 1 = answers only. Copies are drawn, seeded, from every usable item."})
    image_root: str | None = field(default=None, metadata={
        "help": "Folder image paths are relative to (default: the data file's folder)."})
    use_lora: bool = field(default=False, metadata={
        "help": "Train LoRA adapters on the language model's attention/MLP projections; the "
                "adapters are merged into the saved model."})
    freeze_vision: bool = field(default=False, metadata={
        "help": "Keep the vision tower and merger as they are (a pretrained base's, `chestx "
                "train vision`) and train the language model alone."})
    fused_lm_head: bool | None = field(default=None, metadata={
        "help": "Compute the loss through TRL's tiled LM head (no full logits in memory). "
                "None: only for vocabularies of 32,768 tokens or more."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling alpha."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    # TRL defaults changed (see the module docstring): None = chosen by device.
    gradient_checkpointing: bool | None = field(default=None, metadata={
        "help": "Deprecated alias of activation_checkpointing (Transformers 5); None: by device."})
    max_length: int | None = field(default=None, metadata={
        "help": "Truncate prompt+completion to this many tokens (None: never; a cut through an "
                "image's tokens would break Qwen2-VL)."})
    logging_steps: float = field(default=1, metadata={"help": "Log every N steps."})
    # TRL saves every 500 steps: a short run stopped before then had kept nothing.
    save_steps: float = field(default=SAVE_STEPS, metadata={
        "help": "Save a checkpoint (for --resume) every N optimizer steps and at the end."})
    save_total_limit: int | None = field(default=KEEP_CHECKPOINTS, metadata={
        "help": "Keep only the newest N checkpoints."})
    remove_unused_columns: bool | None = field(default=False, metadata={
        "help": "Keep the dataset's columns: its chat messages are built from them on access."})

    def __post_init__(self) -> None:
        if not 0.0 <= self.answer_only_ratio <= 1.0:
            raise ValueError(f"answer_only_ratio must be in [0, 1], got {self.answer_only_ratio}")
        if self.use_lora and self.lora_r < 1:
            raise ValueError(f"lora_r must be >= 1, got {self.lora_r}")
        _device_defaults(self)
        super().__post_init__()


@dataclass
class ChestXGRPOConfig(GRPOConfig):
    """GRPO with our rewards; `reward_weights` (TRL's field) weights `reward_funcs` in order."""

    reward_funcs: list[str] = field(default_factory=lambda: list(REWARD_NAMES), metadata={
        "help": f"Reward short names, in the order of reward_weights ({', '.join(REWARD_NAMES)})."})
    image_root: str | None = field(default=None, metadata={
        "help": "Folder image paths are relative to (default: the data file's folder)."})
    # The paper's settings (group size 8, KL 1e-3, lr 5e-7) instead of TRL's defaults.
    num_generations: int | None = field(default=8, metadata={
        "help": "Completions sampled per prompt (the group of GRPO)."})
    beta: float = field(default=0.001, metadata={"help": "KL coefficient against the start."})
    learning_rate: float = field(default=5e-7, metadata={"help": "AdamW learning rate."})
    max_completion_length: int | None = field(default=512, metadata={
        "help": "Longest generated completion, in tokens."})
    gradient_checkpointing: bool | None = field(default=None, metadata={
        "help": "Deprecated alias of activation_checkpointing (Transformers 5); None: by device."})
    logging_steps: float = field(default=1, metadata={
        "help": "Log every N steps (each reward's mean is logged as rewards/<name>/mean)."})
    save_steps: float = field(default=SAVE_STEPS, metadata={
        "help": "Save a checkpoint (for --resume) every N optimizer steps and at the end."})
    save_total_limit: int | None = field(default=KEEP_CHECKPOINTS, metadata={
        "help": "Keep only the newest N checkpoints."})

    def __post_init__(self) -> None:
        unknown = [name for name in self.reward_funcs if name not in REWARD_NAMES]
        if unknown:
            raise ValueError(f"unknown reward(s) {', '.join(unknown)} "
                             f"(choose from: {', '.join(REWARD_NAMES)})")
        if self.reward_weights is not None and len(self.reward_weights) != len(self.reward_funcs):
            raise ValueError(f"{len(self.reward_weights)} reward weights for "
                             f"{len(self.reward_funcs)} rewards ({', '.join(self.reward_funcs)}); "
                             "give one weight per reward")
        if self.vllm_mode not in VLLM_MODES:
            raise ValueError(f"vllm_mode must be one of {', '.join(VLLM_MODES)}, got "
                             f"{self.vllm_mode!r}")
        url = self.vllm_server_base_url
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"vllm_server_base_url must start with http:// or https://, got "
                             f"{url!r} (e.g. http://127.0.0.1:8000)")
        _device_defaults(self)
        super().__post_init__()
