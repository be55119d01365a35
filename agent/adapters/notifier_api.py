"""The notifier port: what the desk needs from anything that shows a notice to a person.

Holds the protocol, the error, the base class that enforces the never-raise contract once (the pattern of
desktop-notifier's ``DesktopNotifierBackend.send()`` wrapping ``_send()``), and the text rules each backend
applies to the plain-text :class:`~agent.core.notify_text.Notice` (in one place, so no backend invents its own).
The implementations are ``notifier_*.py`` beside this file, picked by :func:`agent.adapters.choose.notifiers`.

Text per backend (a Notice's ``title`` and ``body`` are plain text):

* D-Bus (freedesktop Notifications spec, "Markup"): the summary is plain text; the body may hold markup when the
  server advertises ``body-markup``, so then ``&``, ``<``, ``>`` in the body are escaped (:func:`markup_body`).
* WinRT toasts: Windows-Toasts builds the toast with the XML DOM (``XmlDocument.create_text_node`` and the
  ``NotificationData`` bindings in ``toast_document.py``/``toasters.py``), never by pasting strings into XML, so
  the DOM escapes; escaping here would show ``&amp;``. Only characters XML 1.0 cannot hold at all (C0 controls
  but tab/newline, lone surrogates, U+FFFE/U+FFFF) are replaced, by :func:`plain_text`.
* Consoles: characters the stream's encoding cannot hold are written as ``\\uXXXX`` escapes, never dropped
  (:func:`console_text`).
* Length: where a long text costs the display path (a D-Bus server lays out every character before it answers the
  next call), the backend cuts it with :func:`clip`, ending in ``…``.
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from agent.core.notify_text import Notice

log = logging.getLogger("agent.notify")

REPLACEMENT = "\ufffd"
_C1_AS_CP1252 = {i: bytes([i]).decode("cp1252", errors="replace") for i in range(0x80, 0xA0)}
_NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def plain_text(text: str) -> str:
    """``text`` with what no XML text node or D-Bus string can carry (C0 controls except tab, LF and CR; lone
    surrogates; U+FFFE/U+FFFF) and DEL replaced by U+FFFD. Everything else, emoji and right-to-left text included,
    is kept as it is. (D-Bus strings must be valid UTF-8 without NUL: D-Bus spec, "Basic types".)

    C1 controls (U+0080-U+009F) never reach a notifier either: terminals (xterm, VTE) obey U+009B (CSI) and U+009D
    (OSC) as escape sequences even in UTF-8, so a name could clear or rewrite the console's lines. In a member's
    name they are Windows-1252 punctuation read as Latin-1 (a SQL_ASCII turnstile database, decoded byte for byte
    by :mod:`agent.db.session`: ``O’Brien`` typed in a Windows program is ``O\\x92Brien``), so they are shown as the
    cp1252 characters they were (``’ “ ” € – — Š Ž …``); the five bytes cp1252 leaves undefined become U+FFFD."""
    return _NOT_TEXT.sub(REPLACEMENT, text.translate(_C1_AS_CP1252))


def markup_body(text: str, server_has_body_markup: bool) -> str:
    """The body as a freedesktop server must receive it: ``&``, ``<``, ``>`` escaped as entities when the server
    advertises ``body-markup`` (spec: "Markup"), unchanged otherwise. Quotes need no escaping in element text."""
    text = plain_text(text)
    if not server_has_body_markup:
        return text
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, max_chars: int) -> str:
    """``text`` when it has at most ``max_chars`` characters, else its first ``max_chars - 1`` followed by ``…``
    (never a lone half of a character: Python strings hold whole code points)."""
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def console_text(text: str, encoding: str | None) -> str:
    """``text`` reduced to what ``encoding`` can write: unencodable characters become ``\\uXXXX``/``\\xXX``
    escapes (``errors="backslashreplace"``), so a name is never silently dropped (e.g. ``Ł`` under cp1252)."""
    enc = encoding or "utf-8"
    try:
        return text.encode(enc, errors="backslashreplace").decode(enc, errors="replace")
    except LookupError:  # an encoding name Python does not know: be safe with ASCII
        return text.encode("ascii", errors="backslashreplace").decode("ascii")


def usable_file(path: Path | None) -> bool:
    """True when ``path`` names an existing regular file. Never raises: ``Path.is_file`` raises for errors other
    than "not there" (a name too long, no permission on the folder), and a photo or icon problem must never cost
    the notice (issue 13: "a photo that fails never delays or blocks an entry")."""
    if path is None:
        return False
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def status_icon(icon_for: Callable[[Notice], Path | None] | None, notice: Notice) -> Path | None:
    """The per-status icon file ``icon_for(notice)`` names when it exists, else None (the app's icon is used).
    Never raises: the icon is decoration, so a bug in ``icon_for`` is logged and must not cost the notice. Runs
    on the notifier's thread."""
    if icon_for is None:
        return None
    try:
        icon = icon_for(notice)
        return icon if usable_file(icon) else None
    except Exception:
        log.warning(
            "per-status icon for %r failed: the app icon is used", notice.tag or notice.kind.value, exc_info=True
        )
        return None


class NotifierUnavailable(RuntimeError):
    """The notifier cannot work here (no D-Bus session, no WinRT, no tray icon...). The message says why; the
    chooser leaves this notifier out and logs the reason."""


class Notifier(Protocol):
    """Shows notices to a person.

    ``show`` returns True once the display path *accepted* the notice (D-Bus: the server returned a notification
    id; WinRT: ``show_toast`` returned without error; balloon: the tray call succeeded; console: the line was
    written) and False when it did not; it never raises and returns within about a second. The desk acknowledges
    an entry only after some notifier returned True for it. Called from the desk's controller thread only;
    ``close`` once, at exit.
    """

    name: str

    def show(self, notice: Notice) -> bool: ...

    def close(self) -> None: ...


class NotifierBase(ABC):
    """Base of every product notifier: :meth:`show` calls :meth:`_show` and turns any exception into a logged
    warning and False, so the never-raise contract lives here and not in each adapter. Subclasses implement
    :meth:`_show` (return True only when the display path accepted the notice; raising means False) and may
    override :meth:`_close`."""

    name: str = "?"

    def show(self, notice: Notice) -> bool:
        """See :class:`Notifier`. Never raises."""
        try:
            return self._show(notice) is True
        except Exception as exc:  # the contract: a notifier never takes the desk down
            log.warning("notifier %s could not show %r: %s", self.name, notice.tag or notice.kind.value, _why(exc))
            log.debug("notifier %s failure", self.name, exc_info=True)
            return False

    def close(self) -> None:
        """Release what the notifier holds. Never raises."""
        try:
            self._close()
        except Exception:
            log.warning("notifier %s did not close cleanly", self.name, exc_info=True)

    @abstractmethod
    def _show(self, notice: Notice) -> bool:
        """Show ``notice``; True when the display path accepted it. May raise (reported as False)."""

    def _close(self) -> None:  # noqa: B027 (optional hook: most notifiers hold nothing)
        """Nothing to release by default."""


def _why(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
