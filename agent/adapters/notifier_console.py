"""Console notifier: one line per notice on standard output (``--headless``, or no desktop). Thin adapter.

Used by ``python -m agent demo --headless`` and as the last fallback. The line is reduced to what the stream's
encoding can write (:func:`agent.adapters.notifier_api.console_text`: ``Ł`` becomes ``\\u0141`` under cp1252,
never a dropped line). When ``sys.stdout`` is None (a windowed executable) nothing can be written: the notice is
logged and ``show`` returns False (the desk then knows no person saw it).
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import TextIO

from agent.adapters.notifier_api import NotifierBase, console_text, plain_text
from agent.core.notify_text import Notice, Urgency

log = logging.getLogger("agent.notify")

_MARK = {Urgency.CRITICAL: "[!]", Urgency.NORMAL: "[i]", Urgency.LOW: "[.]"}


def format_line(notice: Notice) -> str:
    """``[!] Title — body line 1 | body line 2`` (``[!]`` critical, ``[i]`` normal, ``[.]`` low), one line:
    line breaks inside the title or a body line become spaces, control characters U+FFFD."""
    title = " ".join(plain_text(notice.title).splitlines())
    body = " | ".join(" ".join(part.split("\r")) for part in plain_text(notice.body).split("\n") if part)
    return f"{_MARK[notice.urgency]} {title}" + (f" — {body}" if body else "")


class ConsoleNotifier(NotifierBase):
    """Prints notices to ``stream`` (default: the current ``sys.stdout``). Any thread; a lock keeps lines
    whole. ``show`` is True once the line was written and flushed."""

    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def _show(self, notice: Notice) -> bool:
        stream = self._stream or sys.stdout
        if stream is None:
            log.info("notice (no console to print it on): %s", notice.tag or notice.kind.value)
            return False
        line = console_text(format_line(notice), getattr(stream, "encoding", None))
        with self._lock:
            stream.write(line + "\n")
            stream.flush()
        return True
