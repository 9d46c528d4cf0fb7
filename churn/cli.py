"""The ``churn`` command line: the app of :mod:`churn.app` with every command registered.

Importing a command module registers its commands on the app; this module imports them
all, so ``churn.cli.app`` is the complete CLI and :func:`main` its console script.
"""

from __future__ import annotations

from churn import (  # noqa: F401  (imported for their commands)
    batch_commands,
    data_commands,
    report_commands,
    serve_commands,
    train_commands,
    uplift_commands,
)
from churn.app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    app()
