"""The Linux one-file binary built from ``agent.spec`` (build/build_linux.sh) runs the CLI against a real server.

The build takes about a minute on 2 cores; it is done once per session (or reused via ``AVISO_LINUX_BINARY``).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Database
from deploy_support import bundled_modules, is_fresh, secret_service

from agent import __version__
from agent.db.simulate import insert_entries

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def binary() -> Path:
    given = os.environ.get("AVISO_LINUX_BINARY")
    if given:
        return Path(given)
    path = ROOT / "dist" / "linux" / "aviso-entradas"
    if is_fresh(path):  # built from the current sources already (local runs); a clean CI clone always builds
        return path
    out = subprocess.run(["bash", str(ROOT / "build" / "build_linux.sh")], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert path.is_file() and os.access(path, os.X_OK)
    return path


@pytest.fixture
def clean_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AVISO_", "PG", "PYTHON"))}
    env.update(
        AVISO_LANG="en",
        HOME=str(tmp_path),
        XDG_CONFIG_HOME=str(tmp_path / "cfg"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        AVISO_MACHINE_CONFIG_FILE=str(tmp_path / "machine.toml"),
    )
    yield env


def test_version_matches_the_single_source(binary: Path, clean_env: dict[str, str]) -> None:
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, env=clean_env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"Aviso de Entradas {__version__}"


def test_bundle_carries_sql_and_every_subcommand(binary: Path, clean_env: dict[str, str]) -> None:
    out = subprocess.run([str(binary), "--help"], capture_output=True, text=True, env=clean_env, timeout=60)
    assert out.returncode == 0, out.stderr
    for command in ("setup-db", "listen", "simulate", "configure", "autostart"):
        assert command in out.stdout


def test_listen_count_1_receives_an_inserted_entry(binary: Path, clean_env: dict[str, str], db: Database) -> None:
    proc = subprocess.Popen(
        [str(binary), "listen", "--json", "--count", "1", "--timeout", "60", "--dsn", db.pos_dsn()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env,
    )
    try:
        _wait_for_line(proc, "Listening on channel", timeout_s=60)
        inserted = insert_entries(db.admin_dsn(), count=1)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["id_entrada"] == inserted[0].entry_id
    assert entry["id_miembro"] == inserted[0].member_id


def test_configure_stores_the_password_in_the_secret_service(
    binary: Path, clean_env: dict[str, str], db: Database, tmp_path: Path
) -> None:
    """The frozen binary finds keyring's SecretService backend (explicit import, no entry points needed)."""
    with secret_service(tmp_path / "ss") as session:
        env = {**clean_env, **session}
        out = subprocess.run(
            [
                str(binary),
                "configure",
                "--host",
                db.server.host,
                "--port",
                str(db.server.port),
                "--database",
                db.name,
                "--sslmode",
                "prefer",  # the test server has no TLS; new configurations default to require
                "--password-stdin",
            ],
            input=db.pos_password + "\n",
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert "Secret Service" in out.stdout
        show = subprocess.run([str(binary), "configure", "--show"], capture_output=True, text=True, env=env)
        assert show.returncode == 0, show.stderr
        assert "stored" in show.stdout


def _wait_for_line(proc: subprocess.Popen[str], needle: str, timeout_s: float) -> None:
    """Read ``proc.stderr`` until a line contains ``needle``; keep draining it afterwards in a thread."""
    assert proc.stderr is not None
    found = threading.Event()
    seen: list[str] = []

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            if needle in line:
                found.set()

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while not found.wait(0.1):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"no {needle!r} from {proc.args!r}: {''.join(seen)!r}")
    proc.stderr = None  # the pump thread owns it now


def test_bundle_contents(binary: Path) -> None:
    """Backends loaded by name are inside, and the local page's modules; the demo's embedded PostgreSQL (pgserver)
    is not, nor Tk (the settings window was retired for the page: one settings UI)."""
    names = bundled_modules(binary)
    assert {"keyring.backends.SecretService", "secretstorage", "pystray._xorg", "tomli_w"} <= names
    assert "tkinter" not in names
    assert {
        "agent.cli.deploy",
        "agent.cli.engine",
        "agent.desk.menu_deploy",
        "agent.adapters.credentials_keyring",
        "agent.web.server",
        "agent.web.desk_page",
    } <= names
    assert not {n for n in names if n.startswith("pgserver")}
