"""Hostile text the shared text rules (agent/adapters/notifier_api.py) must neutralise for every notifier: terminal
control sequences in a member's name, through the console notifier on a real pseudo-terminal."""

from __future__ import annotations

import os
import pty

import pytest

from agent.adapters.notifier_api import plain_text
from agent.adapters.notifier_console import ConsoleNotifier
from agent.core.notify_text import Notice

HOSTILE_NAME = "Ana\x1b[2J\u009b2J\u009d0;Al día\u009c\x7f López"
"""ESC-CSI "clear screen", the 8-bit CSI/OSC/ST that xterm and VTE obey even in UTF-8 mode, DEL."""


def test_no_control_character_reaches_any_notifier() -> None:
    cleaned = plain_text(HOSTILE_NAME)
    assert not any(0x7F <= ord(c) <= 0x9F or ord(c) < 0x20 for c in cleaned)
    # ESC and DEL -> U+FFFD; U+009B/U+009C are cp1252's › and œ; U+009D is undefined in cp1252 -> U+FFFD.
    assert cleaned == "Ana\ufffd[2J›2J\ufffd0;Al díaœ\ufffd López"
    assert plain_text("Ñandú Ærø ß ©") == "Ñandú Ærø ß ©"  # Latin-1 letters above U+009F stay


def test_windows_1252_punctuation_read_as_latin1_is_shown_as_it_was_typed() -> None:
    # A SQL_ASCII turnstile database written by a Windows program, decoded byte for byte (agent/db/session.py).
    typed = "O’Brien “Gym” – 50 € Šárka Žák…"
    assert plain_text(typed.encode("cp1252").decode("latin-1")) == typed


@pytest.mark.skipif(os.name != "posix", reason="a POSIX pseudo-terminal")
def test_the_console_on_a_terminal_gets_no_escape_sequence() -> None:
    leader, follower = pty.openpty()
    try:
        with open(follower, "w", encoding="utf-8", closefd=False) as stream:
            assert ConsoleNotifier(stream).show(Notice(HOSTILE_NAME, "Vencido")) is True
        data = os.read(leader, 4096).decode("utf-8")
    finally:
        os.close(leader)
        os.close(follower)
    assert "\x1b" not in data and not any(0x80 <= ord(c) <= 0x9F for c in data)
    assert "López — Vencido" in data
