"""Registers the subcommands that live in per-area modules (each imported lazily by its own handler).

Areas: ``cli_engine`` (listen, simulate), ``cli_tray`` (demo, the tray agent), ``cli_deploy`` (configure,
autostart), ``cli_doctor`` (doctor). Each module exposes ``register(sub, add_dsn, add_channel)``.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

AddArg = Callable[[argparse.ArgumentParser], None]
AREAS = ("agent.cli_engine", "agent.cli_tray", "agent.cli_deploy", "agent.cli_doctor")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], add_dsn: AddArg, add_channel: AddArg) -> None:
    """Add every area's subcommands to ``sub``."""
    for name in AREAS:
        importlib.import_module(name).register(sub, add_dsn, add_channel)


def run_tray(args: argparse.Namespace) -> int:
    """The tray agent (no subcommand); lives in :mod:`agent.cli_tray`."""
    from agent import cli_tray

    return cli_tray.run_tray(args)
