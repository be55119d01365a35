"""Test helpers of the deploy area: a real Secret Service (gnome-keyring) on a private D-Bus session bus."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def require(*programs: str) -> None:
    """Skip unless every program is on PATH (build/dev.sh installs them for CI)."""
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        if os.environ.get("AVISO_REQUIRE_DEPLOY_TOOLS"):
            pytest.fail(f"missing programs: {missing} (build/dev.sh installs them)")
        pytest.skip(f"missing programs: {missing}")


@contextmanager
def xvfb_display(required_env: str) -> Iterator[str]:
    """A private Xvfb display (``":N"``, chosen by Xvfb itself) for the duration of the block. Skips when Xvfb is
    missing, or fails when the environment variable ``required_env`` is set (CI installs it)."""
    if shutil.which("Xvfb") is None:
        if os.environ.get(required_env):
            pytest.fail("Xvfb missing (build/dev.sh installs xvfb)")
        pytest.skip("Xvfb missing")
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-nolisten", "tcp", "-screen", "0", "1024x768x24"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        number = f.readline().strip()
    try:
        yield ":" + number
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=10)


@contextmanager
def secret_service(base: Path) -> Iterator[dict[str, str]]:
    """Start ``dbus-daemon`` (session) and an unlocked ``gnome-keyring-daemon`` with a temporary HOME.

    Yields the environment variables that point a process at them (HOME, XDG_*, DBUS_SESSION_BUS_ADDRESS).
    Both daemons are stopped (by their pid) on exit.
    """
    require("dbus-daemon", "gnome-keyring-daemon")
    home = base / "home"
    runtime = base / "runtime"
    home.mkdir(parents=True, exist_ok=True)
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
    }
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **env},
    )
    keyring_daemon: subprocess.Popen[bytes] | None = None
    try:
        assert bus.stdout is not None
        env["DBUS_SESSION_BUS_ADDRESS"] = bus.stdout.readline().strip()
        full = {**os.environ, **env}
        keyring_daemon = subprocess.Popen(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=full,
        )
        assert keyring_daemon.stdin is not None
        keyring_daemon.stdin.write(b"login-keyring-password")
        keyring_daemon.stdin.close()
        _wait_for_secrets(full)
        yield env
    finally:
        for proc in (keyring_daemon, bus):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _wait_for_secrets(env: dict[str, str], timeout_s: float = 10.0) -> None:
    """Until ``org.freedesktop.secrets`` has an owner on the bus."""
    deadline = time.monotonic() + timeout_s
    while True:
        out = subprocess.run(
            [
                "dbus-send",
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                "string:org.freedesktop.secrets",
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        if "boolean true" in out.stdout:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"gnome-keyring did not register on the session bus: {out.stderr.strip()}")
        time.sleep(0.05)


ROOT = Path(__file__).resolve().parent.parent
BUILD_INPUTS = ("agent", "sql", "assets", "agent.spec", "build/entry.py", "requirements.txt")


def newest_source_mtime() -> float:
    """Latest modification time of anything a one-file build is made from."""
    newest = 0.0
    for name in BUILD_INPUTS:
        path = ROOT / name
        files = (
            [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        )
        for f in files:
            newest = max(newest, f.stat().st_mtime)
    return newest


def is_fresh(binary: Path) -> bool:
    """True when ``binary`` exists and is newer than every build input (so a local run can reuse it)."""
    return binary.is_file() and binary.stat().st_mtime >= newest_source_mtime()


def bundled_modules(binary: Path) -> set[str]:
    """Names of everything inside a PyInstaller one-file build (modules of its PYZ, data files), via
    ``pyi-archive_viewer -r -b`` from the build tools."""
    viewer = Path(sys.executable).with_name("pyi-archive_viewer")
    out = subprocess.run([str(viewer), "-r", "-b", str(binary)], capture_output=True, text=True, check=True)
    return {line.strip() for line in out.stdout.splitlines() if line.strip()}
