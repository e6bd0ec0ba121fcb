"""SFT and GRPO on TRL with format, outcome and process rewards (issue 9)."""

# How often a run saves a checkpoint for --resume (TRL's 500 meant a short run kept nothing):
# minutes of GPU work at most, about a minute on a CPU; the newest few are kept.
SAVE_STEPS = 50
KEEP_CHECKPOINTS = 3
