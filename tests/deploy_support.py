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
def secret_service(base: Path, *, locked: bool = False, keyring: bool = True) -> Iterator[dict[str, str]]:
    """Start ``dbus-daemon`` (session) and an unlocked ``gnome-keyring-daemon`` with a temporary HOME.

    Yields the environment variables that point a process at them (HOME, XDG_*, DBUS_SESSION_BUS_ADDRESS).
    Both daemons are stopped (by their pid) on exit.

    ``locked``: a login keyring is created (unlocked, one item stored: :data:`LOCKED_ITEM`), then the daemon is
    restarted *without* ``--unlock``, so the login collection exists and is locked, as on an auto-login PC at
    boot. ``keyring=False``: the session bus only, no Secret Service on it ("sin llavero").
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
    bus_kind = ["--session"]
    if not keyring:  # a session bus that cannot start gnome-keyring by D-Bus activation either (no service dirs)
        conf = base / "bus-without-services.conf"
        conf.write_text(
            '<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"'
            ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">\n'
            f"<busconfig><type>session</type><listen>unix:tmpdir={runtime}</listen><auth>EXTERNAL</auth>"
            '<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/>'
            '<allow own="*"/></policy></busconfig>\n',
            encoding="utf-8",
        )
        bus_kind = [f"--config-file={conf}"]
    bus = subprocess.Popen(
        ["dbus-daemon", *bus_kind, "--nofork", "--nopidfile", "--print-address=1"],
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
        if keyring:
            keyring_daemon = _start_keyring(full, unlock=True)
            if locked:
                _store_item(full)
                _stop(keyring_daemon, full)
                keyring_daemon = _start_keyring(full, unlock=False)
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


LOCKED_ITEM = ("AvisoEntradas", "pos_user@10.9.8.7:5432/torniquete_db", "stored-before-the-lock")
"""(service, account, password) stored in the login keyring of ``secret_service(locked=True)``."""


def _start_keyring(env: dict[str, str], *, unlock: bool) -> subprocess.Popen[bytes]:
    args = ["gnome-keyring-daemon", "--foreground", "--components=secrets"]
    proc = subprocess.Popen(
        [*args, "--unlock"] if unlock else args,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdin is not None
    if unlock:
        proc.stdin.write(b"login-keyring-password")
    proc.stdin.close()
    _wait_for_secrets(env)
    return proc


def _store_item(env: dict[str, str]) -> None:
    """Store :data:`LOCKED_ITEM` with keyring's Secret Service backend in a separate process."""
    service, account, password = LOCKED_ITEM
    code = (
        "import sys; from keyring.backends.SecretService import Keyring; "
        "Keyring().set_password(sys.argv[1], sys.argv[2], sys.argv[3])"
    )
    subprocess.run([sys.executable, "-c", code, service, account, password], env=env, check=True, timeout=30)


def _stop(proc: subprocess.Popen[bytes], env: dict[str, str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 5  # until the bus name is free, so the next daemon can own it
    while time.monotonic() < deadline and _has_secrets_owner(env):
        time.sleep(0.05)


def _has_secrets_owner(env: dict[str, str]) -> bool:
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
    return "boolean true" in out.stdout


def _wait_for_secrets(env: dict[str, str], timeout_s: float = 10.0) -> None:
    """Until ``org.freedesktop.secrets`` has an owner on the bus."""
    deadline = time.monotonic() + timeout_s
    while not _has_secrets_owner(env):
        if time.monotonic() > deadline:
            raise RuntimeError("gnome-keyring did not register on the session bus")
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


def show_prompts_on(env: dict[str, str], display: str) -> None:
    """Let D-Bus-activated programs of this session (gnome-keyring's unlock prompter) open windows on
    ``display``: then an unlock prompt really appears and waits for a person, as on a desktop."""
    subprocess.run(
        ["dbus-update-activation-environment", f"DISPLAY={display}"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        timeout=10,
    )


def secrets_daemon_pid(env: dict[str, str]) -> int:
    """The process id of the program that owns ``org.freedesktop.secrets`` on this session's bus."""
    out = subprocess.run(
        [
            "dbus-send",
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.GetConnectionUnixProcessID",
            "string:org.freedesktop.secrets",
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    return int(out.stdout.split()[-1])
