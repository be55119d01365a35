"""Subcommands of the tray area (``demo``) and the tray agent itself. Handlers run on the main thread."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

AddArg = Callable[[argparse.ArgumentParser], None]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], add_dsn: AddArg, add_channel: AddArg) -> None:
    """Add this area's subcommands to ``sub``."""


def run_tray(args: argparse.Namespace) -> int:
    """Run the tray agent (no subcommand). Not built yet: says so and fails."""
    print("the tray agent is not built yet (issue 4)", file=sys.stderr)
    return 1
