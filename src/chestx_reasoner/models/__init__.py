"""Model adapters for `chestx predict`: hf:, openai:, tiny (issue 8)."""
