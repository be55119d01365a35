"""Subcommands beyond ``setup-db``: listen, simulate, demo, and the tray agent itself.

Each ``_cmd_*`` takes the parsed ``argparse.Namespace`` and returns an exit code. Runs on the main thread.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

AddArg = Callable[[argparse.ArgumentParser], None]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], add_dsn: AddArg, add_channel: AddArg) -> None:
    """Add this module's subcommands to ``sub``."""


def run_tray(args: argparse.Namespace) -> int:
    """The tray agent (no subcommand)."""
    print("tray agent: not yet available", file=sys.stderr)
    return 1
