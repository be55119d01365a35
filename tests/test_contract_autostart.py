"""One contract for the autostart port (:class:`agent.adapters.autostart_api.Autostart`), run against the XDG
adapter (real files in a temporary ``XDG_CONFIG_HOME``) and the memory twin. The Windows Run key runs the same
class on Windows (and is exercised under Wine by tests/test_wine.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.adapters import choose
from agent.adapters.autostart_api import Autostart
from agent.adapters.autostart_memory import MemoryAutostart
from agent.adapters.autostart_xdg import XdgAutostart

ARGV = ["/opt/Mis programas/aviso", "--lang", "es"]


class AutostartContract:
    """Subclasses provide the ``port`` fixture (no entry yet)."""

    def test_fresh_is_disabled(self, port: Autostart) -> None:
        status = port.status()
        assert (status.enabled, status.command) == (False, None)
        assert status.location

    def test_enable_then_status_agree(self, port: Autostart) -> None:
        enabled = port.enable(ARGV)
        assert enabled.enabled and enabled.command is not None and "aviso" in enabled.command
        assert port.status() == enabled

    def test_enable_replaces_the_command(self, port: Autostart) -> None:
        port.enable(ARGV)
        second = port.enable(["/opt/otro/aviso"])
        assert second.command is not None and "otro" in second.command and "--lang" not in second.command
        assert port.status() == second

    def test_disable_is_idempotent(self, port: Autostart) -> None:
        port.enable(ARGV)
        assert port.disable().enabled is False
        assert port.disable().enabled is False
        assert port.status().command is None


class TestXdg(AutostartContract):
    @pytest.fixture
    def port(self, tmp_path: Path) -> Autostart:
        chosen = choose.autostart({"XDG_CONFIG_HOME": str(tmp_path), choose.ENV_AUTOSTART: "xdg"})
        assert isinstance(chosen, XdgAutostart)
        assert chosen.path.parent == tmp_path / "autostart"
        return chosen


class TestMemoryTwin(AutostartContract):
    @pytest.fixture
    def port(self) -> Autostart:
        chosen = choose.autostart({choose.ENV_AUTOSTART: "memory"})
        assert isinstance(chosen, MemoryAutostart)
        return chosen


@pytest.mark.skipif(sys.platform != "win32", reason="HKCU Run key")
class TestWindowsRunKey(AutostartContract):
    @pytest.fixture
    def port(self) -> Iterator[Autostart]:
        chosen = choose.autostart({})
        if chosen.status().enabled:
            pytest.skip("autostart is already on for this Windows user; not touching it")
        yield chosen
        chosen.disable()
