"""Shapes shared by the desk (:mod:`agent.desk.presenter`, :mod:`agent.desk.loop`) and its adapters. Pure, no I/O.

* :class:`TrayView` — the tray icon with its tooltip and menu (``agent/adapters/tray_*.py``);
* :class:`MenuItemSpec` — a toolkit-neutral menu item the tray adapter turns into its own;
* :class:`IconState` — which state icon to show (files ``assets/tray-<state>.png`` and ``.ico``).

Adapters satisfy these protocols structurally and never import each other; :mod:`agent.desk.compose` composes them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class IconState(StrEnum):
    """The tray icon's looks (files ``assets/tray-<value>.png``/``.ico``, drawn by ``build/make_icons.py``)."""

    CONNECTED = "connected"
    """Green: listening, notices reach the screen."""
    CONNECTING = "connecting"
    PAUSED = "paused"
    ERROR = "error"
    """Red: no connection, no password from the keyring, or repeated internal failures."""
    DEGRADED = "degraded"
    """Orange: connected, but the primary notifier fails (notices go to a fallback or wait for a summary)."""
    QUIET = "quiet"
    """Green with a filter mark: connected, warnings-only mode is on (normal entries do not pop up)."""


@dataclass(frozen=True)
class MenuItemSpec:
    """One menu item. Callables are evaluated by the tray adapter when it (re)builds the menu, on the tray's
    thread; ``action`` runs on the tray's thread too and must only post work (never block).

    ``text``/``enabled``/``checked`` may be values or zero-argument callables. ``submenu`` (a callable returning
    items) makes this a submenu. ``separator=True`` makes a separator (other fields ignored). ``default`` marks
    the item run by a click on the icon (the only control the xorg backend offers).
    """

    text: str | Callable[[], str] = ""
    action: Callable[[], None] | None = None
    enabled: bool | Callable[[], bool] = True
    checked: Callable[[], bool] | None = None
    default: bool = False
    submenu: Callable[[], Sequence[MenuItemSpec]] | None = None
    separator: bool = False
    key: str = ""
    """A stable name for tests and extensions (``"pause_15"``, ``"quit"``...), never shown."""


SEPARATOR = MenuItemSpec(separator=True, key="-")


@dataclass(frozen=True)
class TrayState:
    """What the icon shows: ``icon`` and a ``tooltip`` (at most :data:`TOOLTIP_MAX` characters)."""

    icon: IconState
    tooltip: str
    status_line: str = ""
    """The menu's first line: the state, and the pause when paused."""


TOOLTIP_MAX = 127
"""Windows keeps 128 UTF-16 units of a notification-area tooltip, NUL included (``NOTIFYICONDATAW.szTip``)."""


class TrayView(Protocol):
    """A tray icon. ``run`` blocks on the main thread until ``stop``; ``ready`` is called (on another thread)
    once the icon loop runs. ``update`` and ``refresh_menu`` may be called from the controller thread.
    ``balloon`` shows a tray balloon/notification on our own icon when the backend has one (else does nothing
    and returns False)."""

    name: str
    has_menu: bool

    def run(self, ready: Callable[[], None]) -> None: ...

    def update(self, state: TrayState) -> None: ...

    def refresh_menu(self) -> None: ...

    def balloon(self, title: str, body: str) -> bool: ...

    def stop(self) -> None: ...
