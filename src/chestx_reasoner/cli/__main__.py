"""`python -m chestx_reasoner.cli`: what `accelerate launch -m chestx_reasoner.cli` runs in each
process (the same command line as `chestx`)."""

from chestx_reasoner.cli import main

main()
