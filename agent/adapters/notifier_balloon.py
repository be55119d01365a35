"""Balloon notifier: the tray icon's own notification (Windows' notification-area balloon through pystray).

The fallback when WinRT toasts are unavailable (old Windows, a stripped build, Wine): it needs no AUMID and
creates no second icon, unlike win10toast. Thin: it is given a ``show(title, body) -> bool`` callable (the tray
adapter's ``balloon``) and does not import the tray. A balloon has no urgency, sound choice or image; warnings
are marked in the title.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from agent.core.notify_text import Notice

log = logging.getLogger("agent.notify")

BALLOON_TITLE_MAX = 63
"""``NOTIFYICONDATAW.szInfoTitle`` holds 64 UTF-16 units, NUL included."""
BALLOON_TEXT_MAX = 255
"""``NOTIFYICONDATAW.szInfo`` holds 256 UTF-16 units, NUL included."""


class BalloonNotifier:
    """Shows notices through ``show(title, body)``; a False return (no balloon support) is logged once."""

    name = "balloon"

    def __init__(self, show: Callable[[str, str], bool]) -> None:
        self._show = show
        self._warned = False

    def show(self, notice: Notice) -> bool:
        """One balloon; a newer balloon replaces the previous one (the platform keeps only one)."""
        title = ("⚠ " if notice.warning else "") + notice.title
        try:
            ok = self._show(title[:BALLOON_TITLE_MAX], notice.body[:BALLOON_TEXT_MAX])
        except Exception:
            log.exception("tray balloon failed")
            return False
        if not ok and not self._warned:
            self._warned = True
            log.warning("the tray backend has no balloon notifications: notices are only logged")
        return bool(ok)

    def close(self) -> None:
        """Nothing to release (the balloon goes away with the icon)."""
