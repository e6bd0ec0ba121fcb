"""chestx-reasoner: chest X-ray diagnosis with step-by-step reasoning (arXiv 2504.20930)."""

__version__ = "0.1.0"
