"""The notifier port: what the desk needs from anything that shows a notice to a person. Protocol and error only;
the implementations are ``notifier_*.py`` beside this file and are picked by :mod:`agent.adapters.choose`."""

from __future__ import annotations

from typing import Protocol

from agent.core.notify_text import Notice


class NotifierUnavailable(RuntimeError):
    """The notifier cannot work here (no D-Bus session, no notification daemon, no WinRT...). The message says
    why; the chooser then tries the next notifier in its fallback order."""


class Notifier(Protocol):
    """Shows notices to a person.

    ``show`` returns True once the display path *accepted* the notice (D-Bus: the server returned a notification
    id; WinRT: ``show`` returned without error; balloon: the tray call succeeded; console: the line was written)
    and False when it did not; it never raises and returns within about a second. The desk acknowledges an entry
    only after some notifier returned True for it. Called from the desk's controller thread only; ``close`` once,
    at exit.
    """

    name: str

    def show(self, notice: Notice) -> bool: ...

    def close(self) -> None: ...
