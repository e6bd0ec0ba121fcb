"""`python -m chestx_reasoner`: the `chestx` command line."""

from chestx_reasoner.cli import main

main()
