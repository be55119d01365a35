"""``python -m agent configure`` against a real PostgreSQL and a real Secret Service (gnome-keyring).

Each run is a separate process, as IT would run it; the password goes through standard input only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Database
from deploy_support import secret_service

from agent.cli.deploy import trigger_channel
from agent.core import config

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses a Secret Service and a POSIX pty")


class Env:
    """A user's environment: private HOME/XDG dirs, a session bus with gnome-keyring, a machine file path."""

    def __init__(self, base: Path, session: dict[str, str]) -> None:
        self.vars = {k: v for k, v in os.environ.items() if not k.startswith(("AVISO_", "PG"))}
        self.vars.pop("PYTHON_KEYRING_BACKEND", None)
        self.vars.update(session)
        self.vars["AVISO_MACHINE_CONFIG_FILE"] = str(base / "machine" / "config.toml")
        self.vars["AVISO_LANG"] = "en"
        self.user_file = Path(session["XDG_CONFIG_HOME"]) / "AvisoEntradas" / "config.toml"

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "agent", *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=self.vars,
            timeout=60,
        )

    def stored_password(self, account: str) -> str | None:
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from agent.adapters.choose import credential_store; "
                "print(credential_store().get(sys.argv[1]))",
                account,
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=self.vars,
            check=True,
        )
        value = out.stdout.rstrip("\n")
        return None if value == "None" else value


@pytest.fixture
def user(tmp_path: Path) -> Iterator[Env]:
    with secret_service(tmp_path) as session:
        yield Env(tmp_path, session)


def server_args(db: Database) -> list[str]:
    return ["--host", db.server.host, "--port", str(db.server.port), "--database", db.name]


def account(db: Database, user: str = "pos_user") -> str:
    return config.credential_account(
        config.ConnectionSettings(host=db.server.host, port=db.server.port, database=db.name, user=user)
    )


def test_silent_configure_tests_then_saves_file_and_keyring(db: Database, user: Env) -> None:
    out = user.run("configure", *server_args(db), "--password-stdin", stdin=db.pos_password + "\n")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "connection: OK" in out.stdout
    assert "trigger: installed, channel nueva_entrada_canal" in out.stdout
    assert f"settings saved to {user.user_file}" in out.stdout
    assert f"service AvisoEntradas, user {account(db)}" in out.stdout
    saved = tomllib.loads(user.user_file.read_text(encoding="utf-8"))
    assert saved["connection"]["host"] == db.server.host
    assert saved["connection"]["port"] == db.server.port
    assert saved["connection"]["database"] == db.name
    assert db.pos_password not in user.user_file.read_text(encoding="utf-8")
    assert db.pos_password not in out.stdout + out.stderr
    assert user.stored_password(account(db)) == db.pos_password

    show = user.run("configure", "--show")
    assert show.returncode == 0, show.stderr
    assert f"connection.database = '{db.name}'  ({user.user_file})" in show.stdout
    assert f"password of {account(db)}: stored" in show.stdout

    # a later change keeps the stored password (no --password-stdin) and is tested again before saving
    again = user.run("configure", "--sslmode", "disable")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "keeping the one already stored" in again.stdout
    assert tomllib.loads(user.user_file.read_text())["connection"]["sslmode"] == "disable"

    forget = user.run("configure", "--forget-password")
    assert forget.returncode == 0 and "removed" in forget.stdout
    assert user.stored_password(account(db)) is None


def test_wrong_password_saves_nothing(db: Database, user: Env) -> None:
    out = user.run("configure", *server_args(db), "--password-stdin", stdin="not-the-password\n")
    assert out.returncode == 1
    assert "connection: failed" in out.stdout and "password authentication failed" in out.stdout
    assert "Nothing was saved" in out.stderr
    assert not user.user_file.exists()
    assert user.stored_password(account(db)) is None


def test_missing_trigger_saves_nothing_and_points_to_setup_db(db: Database, user: Env) -> None:
    with db.connect_admin() as admin, admin.cursor() as cur:
        cur.execute("DROP TRIGGER aviso_nueva_entrada ON registro_entradas")
    out = user.run("configure", *server_args(db), "--password-stdin", stdin=db.pos_password + "\n")
    assert out.returncode == 1
    assert "connection: OK" in out.stdout
    assert "trigger: not installed" in out.stdout and "setup-db" in out.stdout
    assert not user.user_file.exists()
    assert user.stored_password(account(db)) is None


def test_channel_mismatch_is_caught(db: Database, user: Env) -> None:
    out = user.run(
        "configure", *server_args(db), "--channel", "OtroCanal", "--password-stdin", stdin=db.pos_password + "\n"
    )
    assert out.returncode == 1
    assert "notifies on channel 'nueva_entrada_canal', but the settings say 'OtroCanal'" in out.stdout
    assert not user.user_file.exists()


def test_wrong_database_has_no_entries_table(db: Database, user: Env) -> None:
    out = user.run(
        "configure",
        "--host",
        db.server.host,
        "--port",
        str(db.server.port),
        "--database",
        "postgres",
        "--password-stdin",
        stdin=db.pos_password + "\n",
    )
    assert out.returncode == 1
    assert "no registro_entradas table" in out.stdout


def test_invalid_options_are_usage_errors(user: Env) -> None:
    out = user.run("configure", "--port", "99999", "--sslmode", "sometimes")
    assert out.returncode == 2
    assert "connection.port = 99999: must be between 1 and 65535 (in --port)" in out.stderr
    assert "connection.sslmode = 'sometimes': possible values" in out.stderr


def test_no_options_without_a_terminal_asks_for_options(user: Env) -> None:
    out = user.run("configure", stdin="")
    assert out.returncode == 2
    assert "Nothing to configure" in out.stderr


def test_no_password_anywhere_is_explained(db: Database, user: Env) -> None:
    out = user.run("configure", *server_args(db))
    assert out.returncode == 2
    assert f"The password of {account(db)} is missing" in out.stderr


def test_no_keyring_is_explained_and_nothing_saved(db: Database, user: Env) -> None:
    user.vars["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=/nonexistent/bus"
    out = user.run("configure", *server_args(db), "--password-stdin", stdin=db.pos_password + "\n")
    assert out.returncode == 1
    assert "No usable system password store" in out.stderr
    assert "never saved in a file" in out.stderr
    assert not user.user_file.exists()


def _expect(fd: int, needle: str, transcript: list[str], timeout_s: float = 20.0) -> None:
    import select

    deadline = time.monotonic() + timeout_s
    while needle not in "".join(transcript):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"no {needle!r} in {''.join(transcript)!r}")
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            chunk = b""
        if not chunk:
            raise AssertionError(f"process ended before {needle!r}: {''.join(transcript)!r}")
        transcript.append(chunk.decode("utf-8", "replace"))


def test_interactive_configure_in_a_terminal(db: Database, user: Env) -> None:
    """A real pseudo-terminal: prompts show the current values, the password prompt does not echo."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # child
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "agent", "configure"], user.vars)  # noqa: S606
    transcript: list[str] = []
    try:
        answers = [
            ("Server (IP or name) [localhost]: ", db.server.host),
            ("Port [5432]: ", str(db.server.port)),
            ("Database [torniquete_db]: ", db.name),
            ("User [pos_user]: ", ""),
            ("NOTIFY channel [nueva_entrada_canal]: ", ""),
            ("SSL mode [prefer]: ", ""),
            ("CA certificate (path) []: ", ""),
            ("Password of pos_user (empty = keep the stored one): ", db.pos_password),
        ]
        for prompt, answer in answers:
            _expect(fd, prompt, transcript)
            os.write(fd, answer.encode() + b"\r")
        _expect(fd, "settings saved to", transcript)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, "".join(transcript)
    assert db.pos_password not in "".join(transcript)  # no echo
    assert user.stored_password(account(db)) == db.pos_password
    assert tomllib.loads(user.user_file.read_text())["connection"]["database"] == db.name


def test_trigger_channel_decoding() -> None:
    assert trigger_channel(b"MiCanal\x00".hex()) == "MiCanal"
    assert trigger_channel("") == "nueva_entrada_canal"
    assert trigger_channel(None) == "nueva_entrada_canal"
    assert trigger_channel("canal_ñ\x00".encode().hex()) == "canal_ñ"


def test_non_ascii_password_with_a_byte_order_mark(db: Database, user: Env) -> None:
    role, password = "aviso_cfg_user", "contraseña-Ü-€"
    with db.connect_admin() as admin, admin.cursor() as cur:
        cur.execute(f'CREATE ROLE "{role}" LOGIN PASSWORD %s', (password,))
    try:
        out = user.run(
            "configure", *server_args(db), "--user", role, "--password-stdin", stdin="\ufeff" + password + "\n"
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert user.stored_password(account(db, role)) == password
    finally:
        with db.connect_admin() as admin, admin.cursor() as cur:
            cur.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_listen_without_dsn_uses_the_configured_server_and_keyring_password(db: Database, user: Env) -> None:
    saved = user.run("configure", *server_args(db), "--password-stdin", stdin=db.pos_password + "\n")
    assert saved.returncode == 0, saved.stderr
    listener = subprocess.Popen(
        [sys.executable, "-m", "agent", "listen", "--json", "--count", "1", "--timeout", "40"],
        cwd=ROOT,
        env=user.vars,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert listener.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the start lines go to stderr with --json
        line = listener.stderr.readline()
        if "Waiting for notifications" in line or not line:
            break
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO registro_entradas (id_miembro, tipo_acceso) VALUES (4, 'miembro') RETURNING id_entrada"
        )
        (entry_id,) = cur.fetchone()
    out, err = listener.communicate(timeout=60)
    assert listener.returncode == 0, err
    assert f'"id_entrada": {entry_id}' in out and "Zúñiga" in out
    assert db.pos_password not in out + err
