"""The desk's API for menu sections: :class:`MenuContext` and the :data:`MenuSection` signature.

A menu section is a function ``menu_items(ctx: MenuContext) -> Sequence[MenuItemSpec]`` (e.g.
:func:`agent.desk.menu_deploy.menu_items`). The composition (:func:`agent.desk.compose.run_agent`) gets the
sections as explicit imports and the presenter places their items above "Quit". Their actions run on the tray's
thread: open a window or post work with ``ctx.post``, never block.

This module keeps the name ``app`` so that sections written against the old controller module still import
``MenuContext`` from here; it imports nothing of the desk, so a section never closes an import circle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agent.core.config import Settings
from agent.core.tray_model import MenuItemSpec


@dataclass(frozen=True)
class MenuContext:
    """Given to menu sections. ``post(fn)`` runs ``fn`` on the desk thread (inside its exception barrier); any
    thread may call it, and every other callable here."""

    lang: str
    settings: Settings
    post: Callable[[Callable[[], None]], None]
    reconnect_now: Callable[[], None]
    show: Callable[[str, str], None]
    """``show(title, body)``: a plain notice (e.g. "settings saved")."""
    reload_settings: Callable[[], None] = lambda: None
    """Re-read the settings and the keyring password and swap the engine for one built with them, keeping the
    pause. Where the agent runs on a ``--dsn`` given on the command line, this only reconnects."""
    page_url: str = ""
    """The agent's running local page (:mod:`agent.web`, token included; never logged), '' when there is none."""


MenuSection = Callable[[MenuContext], Sequence[MenuItemSpec]]
MenuExtension = MenuSection
"""The old name of :data:`MenuSection`."""
