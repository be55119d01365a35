"""Tray menu items of the deployment area: the local page and autostart.

* "Entradas de hoy" (also a click on the icon, where the tray backend has a default action) opens the agent's
  local page (:mod:`agent.web`) in the default browser
  (:func:`agent.web.browser.open_page`: through a private redirect file, so the token is on no command line).
* "Configuración…" opens the same page at its settings form. Saving there calls the page's ``on_saved``, which
  the composition wires to ``ctx.reload_settings`` (the agent reconnects with the new settings).
  Without a page (it could not be served), "Configuración…" runs ``<agent> settings`` in a **separate process**
  instead (which serves a page of its own) and, when that exits with 0 (saved), reloads the settings
  (``ctx.reload_settings``) and says so with a notice.
* "Iniciar con Windows / la sesión": a checked item; clicking it turns autostart on or off
  (:mod:`agent.adapters.autostart_api`).

Threads: ``menu_items`` and the actions run on the tray's thread and never block: the browser is opened and the
settings process waited for on daemon threads, which only call ``ctx.reload_settings``/``ctx.show`` (safe from
any thread).
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Sequence
from typing import Protocol

from agent.core.i18n import tr
from agent.core.tray_model import MenuItemSpec
from agent.desk.app import MenuContext
from agent.web.browser import open_page

log = logging.getLogger(__name__)

SETTINGS_SAVED = 0


class PageHandle(Protocol):
    """What the menu needs of the running page (:class:`agent.web.page.TodayPage`)."""

    url: str


def settings_command() -> list[str]:
    """argv of the settings process for this installation."""
    from agent.adapters.autostart_api import launch_command

    return [*launch_command(), "settings"]


def open_in_browser(url: str, ctx: MenuContext) -> None:
    """Open ``url`` in the default browser on a daemon thread (it can take a second); a failure becomes a notice
    with the address, so it can be typed by hand."""

    def run() -> None:
        if not open_page(url):  # the token never on the browser's command line (agent/web/browser.py)
            log.warning("no browser could be opened for the local page")
            ctx.show(tr("web.menu.today", ctx.lang), tr("web.no_browser", ctx.lang) + "\n" + url)

    threading.Thread(target=run, name="aviso-open-page", daemon=True).start()


def menu_items(ctx: MenuContext, page: PageHandle | None = None) -> Sequence[MenuItemSpec]:
    """The deployment area's items (placed above "Quit" by the tray). ``page``: the agent's running local page
    (default: the one whose URL the composition put in ``ctx.page_url``, if any)."""
    from agent.adapters.autostart_api import launch_command
    from agent.adapters.choose import autostart as open_autostart

    try:
        autostart = open_autostart()
    except ValueError:
        autostart = None
    running: list[subprocess.Popen[bytes]] = []

    def open_settings_process() -> None:
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
            if proc.wait() == SETTINGS_SAVED:
                log.info("settings saved from the settings page process: reloading them")
                ctx.reload_settings()  # re-reads settings + keyring password, reconnects with a new engine
                ctx.show(tr("settings.title", ctx.lang), tr("settings.saved", ctx.lang))

        threading.Thread(target=wait, name="aviso-settings-wait", daemon=True).start()

    url = page.url if page is not None else ctx.page_url

    def open_settings() -> None:
        if not url:
            open_settings_process()
        else:
            open_in_browser(url + "#settings", ctx)

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

    items: list[MenuItemSpec] = []
    if url:
        # default: a click on the icon opens the page where the backend has a default action (win32); pystray runs
        # the first default item, so the desk's own click action (pause, on the menu-less xorg backend) stays first
        items.append(
            MenuItemSpec(
                text=tr("web.menu.today", ctx.lang), action=lambda: open_in_browser(url, ctx), default=True, key="today"
            )
        )
    items.append(MenuItemSpec(text=tr("settings.menu", ctx.lang), action=open_settings, key="settings"))
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
