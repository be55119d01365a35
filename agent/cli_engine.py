"""Subcommands of the engine area. Handlers run on the main thread and return an exit code."""

from __future__ import annotations

import argparse
from collections.abc import Callable

AddArg = Callable[[argparse.ArgumentParser], None]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], add_dsn: AddArg, add_channel: AddArg) -> None:
    """Add this area's subcommands to ``sub``."""
