"""The null notifier (``AVISO_NOTIFIER=null``): shows nothing and accepts everything. Thin; the recorder that
tests read is ``tests/fakes.py`` ``RecordingNotifier``."""

from __future__ import annotations

from agent.adapters.notifier_api import NotifierBase
from agent.core.notify_text import Notice


class NullNotifier(NotifierBase):
    """Drops every notice (the log still records each entry)."""

    name = "null"

    def _show(self, notice: Notice) -> bool:
        """Do nothing; True (the null notifier accepts everything: tests and ``AVISO_NOTIFIER=null``)."""
        return True
