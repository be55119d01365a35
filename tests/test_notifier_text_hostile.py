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
    assert cleaned.startswith("Ana\ufffd[2J\ufffd2J\ufffd0;Al día\ufffd") and cleaned.endswith(" López")
    assert plain_text("Ñandú Ærø ß ©") == "Ñandú Ærø ß ©"  # Latin-1 letters above U+009F stay


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
