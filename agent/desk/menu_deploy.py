"""Tray menu items of the deploy area (loaded by :func:`agent.desk.app.load_menu_extensions`).

* "Configuración…" opens the settings window in a **separate process** (``<agent> settings``): Tk then has its own
  main thread and cannot interfere with the tray icon's loop. When that process exits with 0 (saved), the tray
  re-reads the settings and the keyring password and reconnects (``ctx.reload_settings``); a notice says so.
* "Iniciar con Windows / la sesión": a checked item; clicking it turns autostart on or off
  (:mod:`agent.adapters.autostart_api`).

Threads: ``menu_items`` and the actions run on the tray's thread and never block: the settings process is waited
for on a daemon thread, which only calls ``ctx.reload_settings``/``ctx.show`` (safe from any thread).
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Sequence

from agent.core.i18n import tr
from agent.core.tray_model import MenuItemSpec
from agent.desk.app import MenuContext

log = logging.getLogger(__name__)

SETTINGS_SAVED = 0
SETTINGS_NO_TK = 1


def settings_command() -> list[str]:
    """argv of the settings window process for this installation."""
    from agent.adapters.autostart_api import launch_command

    return [*launch_command(), "settings"]


def menu_items(ctx: MenuContext) -> Sequence[MenuItemSpec]:
    """The deploy area's items (placed above "Quit" by the tray)."""
    from agent.adapters.autostart_api import launch_command
    from agent.adapters.choose import autostart as open_autostart

    try:
        autostart = open_autostart()
    except ValueError:
        autostart = None
    running: list[subprocess.Popen[bytes]] = []

    def open_settings() -> None:
        if running and running[0].poll() is None:
            return  # already open
        from agent.adapters.autostart_api import source_dir

        try:
            proc = subprocess.Popen(settings_command(), cwd=source_dir(), stdin=subprocess.DEVNULL)
        except OSError as exc:
            ctx.show(tr("settings.title", ctx.lang), str(exc))
            return
        running[:] = [proc]

        def wait() -> None:
            code = proc.wait()
            if code == SETTINGS_SAVED:
                log.info("settings saved from the settings window: reloading them")
                ctx.reload_settings()  # re-reads settings + keyring password, reconnects with a new engine
                ctx.show(tr("settings.title", ctx.lang), tr("settings.saved", ctx.lang))
            elif code == SETTINGS_NO_TK:
                log.warning("the settings window cannot open here (no Tk)")
                ctx.show(tr("settings.title", ctx.lang), tr("settings.no_tk", ctx.lang, detail="Tk"))

        threading.Thread(target=wait, name="aviso-settings-wait", daemon=True).start()

    def autostart_checked() -> bool:
        try:
            return autostart is not None and autostart.status().enabled
        except OSError:
            return False

    def toggle_autostart() -> None:
        if autostart is None:
            return
        try:
            if autostart.status().enabled:
                autostart.disable()
            else:
                autostart.enable(launch_command())
        except OSError as exc:
            log.warning("autostart change failed: %s", exc)
            ctx.show(tr("settings.autostart", ctx.lang), tr("autostart.failed", ctx.lang, detail=str(exc)))

    items = [MenuItemSpec(text=tr("settings.menu", ctx.lang), action=open_settings, key="settings")]
    if autostart is not None:
        items.append(
            MenuItemSpec(
                text=tr("settings.autostart", ctx.lang),
                action=toggle_autostart,
                checked=autostart_checked,
                key="autostart",
            )
        )
    return items
