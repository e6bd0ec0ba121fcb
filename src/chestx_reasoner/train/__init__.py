"""SFT and GRPO on TRL with format, outcome and process rewards (issue 9)."""
