"""The `chestx` command line: `app` (the typer app) and `main` (the console script).

Importing the command modules registers their commands on `app`; they import only from
`chestx_reasoner.cli.common`, so nothing here is imported back.
"""

# In pipeline order, which is the order `chestx --help` lists the commands in.
# isort: off
from chestx_reasoner.cli import label  # noqa: F401  (imported to register its commands)
from chestx_reasoner.cli import data  # noqa: F401
from chestx_reasoner.cli import mine  # noqa: F401
from chestx_reasoner.cli import model  # noqa: F401
from chestx_reasoner.cli import score  # noqa: F401
from chestx_reasoner.cli import train  # noqa: F401
from chestx_reasoner.cli import export  # noqa: F401
from chestx_reasoner.cli import demo  # noqa: F401
# isort: on
from chestx_reasoner.cli.common import app, reflow_help

reflow_help(app)

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the `chestx` script and of `python -m chestx_reasoner[.cli]`."""
    app()
