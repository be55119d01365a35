"""Console notifier: one line per notice on standard output (``--headless``, or no desktop). Thin adapter.

Used by ``python -m agent demo --headless`` and when no notification service exists. When ``sys.stdout`` is None
(a windowed executable) the line goes to the log instead.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import TextIO

from agent.core.notify_text import Notice, Urgency

log = logging.getLogger("agent.notify")

_MARK = {Urgency.CRITICAL: "[!]", Urgency.NORMAL: "[i]", Urgency.LOW: "[.]"}


def format_line(notice: Notice) -> str:
    """``[!] Title — body line 1 | body line 2`` (``[!]`` critical, ``[i]`` normal, ``[.]`` low)."""
    body = " | ".join(part for part in notice.body.split("\n") if part)
    return f"{_MARK[notice.urgency]} {notice.title}" + (f" — {body}" if body else "")


class ConsoleNotifier:
    """Prints notices. Any thread; a lock keeps lines whole."""

    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def show(self, notice: Notice) -> bool:
        """Print one line (flushed at once)."""
        line = format_line(notice)
        stream = self._stream or sys.stdout
        if stream is None:
            log.info("notice: %s", line)
            return False
        with self._lock:
            try:
                stream.write(line + "\n")
                stream.flush()
            except (OSError, ValueError) as exc:  # closed pipe or stream
                log.warning("console notifier could not write: %s", exc)
                return False
        return True

    def close(self) -> None:
        """Nothing to release."""
