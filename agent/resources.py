"""Where the shipped files (``sql/``, ``assets/``) are: the repository, or PyInstaller's bundle when frozen."""

from __future__ import annotations

import sys
from pathlib import Path


def root() -> Path:
    """The folder holding ``sql/`` and ``assets/``: ``sys._MEIPASS`` in a PyInstaller build, else the checkout."""
    bundle = getattr(sys, "_MEIPASS", None)
    return Path(bundle) if bundle else Path(__file__).resolve().parent.parent


def sql(name: str) -> Path:
    """Path of ``sql/<name>``."""
    return root() / "sql" / name


def asset(name: str) -> Path:
    """Path of ``assets/<name>``."""
    return root() / "assets" / name
