"""What the desk's composition needs from the adapter choosers (:mod:`agent.adapters.choose`, the one place
adapters are picked) plus the desk's own bits: the single-instance hold taken first at start-up and the
per-status notice icons (``assets/status-<tone>.png``, drawn by ``build/make_icons.py``) offered to notifiers.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent import resources
from agent.adapters import choose
from agent.adapters.notifier_api import Notifier
from agent.core.notify_text import Notice, Tone

log = logging.getLogger("agent.desk.wiring")

EXIT_ALREADY_RUNNING = 3
"""Exit code of ``tray``/``demo`` when another instance runs for this user."""

has_display = choose.has_display
icon_paths = choose.icon_paths
make_tray = choose.tray
make_notifiers = choose.notifiers
notifier_order = choose.notifier_order


def tone_icon(notice: Notice) -> Path | None:
    """The status icon for ``notice``'s tone (green / red / amber / blue), or None for notices about no member
    (the app icon then). Quick and non-blocking: notifiers call it on their own thread."""
    if notice.tone is Tone.NEUTRAL:
        return None
    path = resources.asset(f"status-{notice.tone.value}.png")
    return path if path.is_file() else None


class _Nowhere:
    """The chain's stand-in when nothing can show a notice: refuses every one (never acknowledged unseen)."""

    name = "nowhere"

    def show(self, notice: Notice) -> bool:
        log.warning("no notifier can show %s", notice.tag or notice.title)
        return False

    def close(self) -> None:
        pass


BLIND_BALLOON_BACKENDS = ("gtk", "appindicator")
"""pystray tray backends whose balloon cannot fail: ``Icon.notify`` only schedules the D-Bus ``Notify`` with
``GObject.idle_add`` and its wrapper swallows every exception (pystray ``_util/gtk.py`` ``mainloop``), through the
same notification daemon the D-Bus notifier just failed on."""


def visible_only(chain: Sequence[Notifier], windowed: bool, tray_backend: str = "") -> list[Notifier]:
    """``chain`` without the notifiers that would "accept" a notice nobody sees: the console in a windowed build
    (its ``sys.stdout`` is a null writer, :func:`agent.logging_setup.ensure_std_streams`), and the balloon on a
    ``tray_backend`` of :data:`BLIND_BALLOON_BACKENDS` (it returns True while the daemon is down: entries were
    acknowledged unseen). Never empty: :class:`_Nowhere` when nothing is left."""
    out = [n for n in chain if not (windowed and n.name == "console")]
    if len(out) != len(chain):
        log.info("windowed build: the console notifier is left out (nobody would see its lines)")
    if tray_backend in BLIND_BALLOON_BACKENDS and any(n.name == "balloon" for n in out):
        out = [n for n in out if n.name != "balloon"]
        log.info("tray backend %s: balloons cannot report a failure, left out of the chain", tray_backend)
    return out or [_Nowhere()]


def hold_single_instance(name: str, lang: str) -> Any:
    """The acquired single-instance guard (call ``release()`` at exit), or None when another instance runs for
    this user (said on stdout and, on Windows, in a message box). Taken before anything that may block."""
    from agent.core.i18n import tr

    instance = choose.single_instance(name)
    try:
        acquired = instance.acquire()
    except OSError as exc:
        log.warning("single-instance check failed (%s): continuing", exc)
        acquired = True
    if acquired:
        return instance
    if sys.stdout is not None:
        print(tr("app.already_running", lang), flush=True)
    if sys.platform == "win32":
        try:
            choose.tell_user(tr("app.already_running", lang))
        except Exception:
            log.exception("could not tell the user")
    log.info("another instance is running: exiting")
    return None
