"""Open the local page in the default browser without putting its token on a command line.

``webbrowser.open(url)`` starts the browser with the URL as an argument, and on Linux every user can read every
process's arguments (``/proc/<pid>/cmdline``): the token would be visible to another user of a shared PC. So the
browser is given a small HTML file instead (created with ``tempfile.mkstemp``: mode 0600, readable by this user
only) that redirects to the page; the same approach as Jupyter's redirect file. The file is removed after
:data:`KEEP_S` seconds (the browser has read it by then). Any thread; blocks while the browser starts.
"""

from __future__ import annotations

import contextlib
import html
import logging
import os
import tempfile
import threading
import webbrowser
from pathlib import Path

log = logging.getLogger(__name__)

KEEP_S = 60.0


def redirect_file(url: str) -> Path:
    """A private HTML file that sends the browser to ``url``. Raises ``OSError``."""
    fd, name = tempfile.mkstemp(prefix="aviso-page-", suffix=".html")
    quoted = html.escape(url, quote=True)
    text = (
        '<!doctype html><meta charset="utf-8"><meta name="referrer" content="no-referrer">'
        f'<meta http-equiv="refresh" content="0;url={quoted}"><title>Aviso de Entradas</title>'
        f'<p><a href="{quoted}">Aviso de Entradas</a></p>\n'
    )
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    return Path(name)


def open_page(url: str) -> bool:
    """Open ``url`` in the default browser through :func:`redirect_file`; True when a browser was started."""
    try:
        path = redirect_file(url)
    except OSError as exc:
        log.warning("no redirect file for the local page: %s", exc)
        return False
    try:
        opened = bool(webbrowser.open(path.as_uri()))
    except Exception:
        log.warning("the browser could not be started", exc_info=True)
        opened = False
    timer = threading.Timer(KEEP_S if opened else 0.0, _remove, args=(path,))
    timer.daemon = True
    timer.start()
    return opened


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
