"""The one OpenAI-compatible client (retries, cache, concurrency) (issue 6).

Shared by the LLM miner, the LLM judge and the openai: model adapter.
"""
