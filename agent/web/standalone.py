"""``python -m agent settings``: the local page on its own, for changing the settings while no agent runs (or from
a script over SSH with ``--no-browser``). Main thread only.

It serves the page (today's entries, when the saved settings can connect, and the settings form opened), prints its
address, opens it in the default browser (:func:`agent.web.browser.open_page`), and waits. Exit status: 0 the
settings were saved (the page keeps serving :data:`LINGER_S` seconds so it can show the result), 3 closed without
saving (the page's "Close" button, Ctrl+C, or ``timeout_s`` without saving), 1 the page could not be served (no
free local port).
The running tray agent has the same page behind its "Configuración…" item and reloads itself on save.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable

from agent.core.config import Settings
from agent.core.i18n import tr
from agent.web.browser import open_page
from agent.web.page import PageOptions, ReadToday
from agent.web.server import start_page
from agent.web.settings_form import Check, SettingsForm

log = logging.getLogger(__name__)

EXIT_SAVED = 0
EXIT_FAILED = 1
EXIT_CLOSED = 3
LINGER_S = 1.5


def _print(text: str) -> None:
    if sys.stdout is not None:  # a windowed exe started without a console has no stdout
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def run_settings(
    lang: str,
    *,
    check: Check,
    reader: ReadToday | None = None,
    open_browser: bool = True,
    timeout_s: float | None = None,
    form: SettingsForm | None = None,
    out: Callable[[str], None] = _print,
) -> int:
    """Serve the page until saved or closed; returns the exit status (module docstring)."""
    saved = threading.Event()

    def on_saved(_settings: Settings) -> None:
        saved.set()

    if form is None:
        form = SettingsForm.default(lang, check, on_saved)
    else:
        form.on_saved = on_saved
    try:
        page = start_page(PageOptions(lang=lang, read_today=reader, settings_form=form, standalone=True))
    except OSError as exc:
        out(tr("web.cannot_serve", lang, detail=str(exc)))
        return EXIT_FAILED
    url = page.url + "#settings"
    out(tr("web.url", lang, url=url))
    out(tr("web.settings_waiting", lang))
    if open_browser and not open_page(url):
        out(tr("web.no_browser", lang))
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        while not saved.is_set() and not page.closed.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            saved.wait(0.2)
        if saved.is_set():
            time.sleep(LINGER_S)
    except KeyboardInterrupt:
        pass
    finally:
        page.close()
    if saved.is_set():
        out(tr("web.settings_saved", lang))
        return EXIT_SAVED
    out(tr("web.settings_closed", lang))
    return EXIT_CLOSED
