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
import test_tls
from conftest import Database
from deploy_support import secret_service
from test_tls import TlsServer

from agent.core import config
from agent.doctor.judge import trigger_channel

ROOT = Path(__file__).resolve().parent.parent
tls_server = test_tls.tls_server  # the module-scoped TLS server fixture (a CA and a server made with openssl)
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

    def run_without_stdin(self, *args: str) -> subprocess.CompletedProcess[str]:
        """As a windowed exe or a scheduler runs it: file descriptor 0 closed (``sys.stdin`` is None)."""
        return subprocess.run(
            [sys.executable, "-m", "agent", *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=self.vars,
            timeout=60,
            preexec_fn=lambda: os.close(0),
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
    """The test server has no TLS; new configurations default to ``sslmode = require`` (tested below), so these
    tests choose ``prefer`` explicitly, as IT would for a server without TLS."""
    return ["--host", db.server.host, "--port", str(db.server.port), "--database", db.name, "--sslmode", "prefer"]


def account(db: Database, user: str = "pos_user") -> str:
    return config.credential_account(
        config.ConnectionSettings(host=db.server.host, port=db.server.port, database=db.name, user=user)
    )


def test_silent_configure_tests_then_saves_file_and_keyring(db: Database, user: Env) -> None:
    out = user.run("configure", *server_args(db), "--password-stdin", stdin=db.pos_password + "\n")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "connection: OK" in out.stdout
    # the kit judged by doctor's judges (agent.doctor.judge.configure_findings) on one inspection
    assert "Trigger: installed and enabled" in out.stdout
    assert "Trigger channel: channel nueva_entrada_canal, as configured" in out.stdout
    assert f"settings saved to {user.user_file}" in out.stdout
    assert f"service AvisoEntradas, user {account(db)}" in out.stdout
    # where the password went, in people's words: no "(keyring keyring.backends...)" class names
    assert "password saved in GNOME Keyring / Secret Service (service AvisoEntradas" in out.stdout
    assert "keyring.backends" not in out.stdout and "(keyring" not in out.stdout
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


def test_wrong_password_advice_in_configure_speaks_of_the_typed_password(db: Database, user: Env) -> None:
    """configure's advice used to say "Check pos_user's saved password" about a password just typed."""
    out = user.run("configure", *server_args(db), "--password-stdin", stdin="not-the-password\n")
    assert out.returncode == 1
    assert "the password you just gave is not that user's password on the server" in out.stdout, out.stdout
    assert "saved password" not in out.stdout and "Save pos_user's password again" not in out.stdout
    assert "pg_hba.conf" in out.stdout


def test_refused_connection_advice_names_the_configured_port(user: Env) -> None:
    from agent.db import throwaway

    port = throwaway.free_port()
    args = ["--host", "127.0.0.1", "--port", str(port), "--database", "x", "--sslmode", "prefer"]
    out = user.run("configure", *args, "--password-stdin", stdin="pw\n")
    assert out.returncode == 1 and "connection: failed" in out.stdout, out.stdout + out.stderr
    assert f"TCP port {port}" in out.stdout and "5432" not in out.stdout, out.stdout


def test_missing_trigger_saves_nothing_and_points_to_setup_db(db: Database, user: Env) -> None:
    with db.connect_admin() as admin, admin.cursor() as cur:
        cur.execute("DROP TRIGGER aviso_nueva_entrada ON registro_entradas")
    out = user.run("configure", *server_args(db), "--password-stdin", stdin=db.pos_password + "\n")
    assert out.returncode == 1
    assert "connection: OK" in out.stdout
    assert "Trigger: no trigger aviso_nueva_entrada on registro_entradas" in out.stdout and "setup-db" in out.stdout
    assert not user.user_file.exists()
    assert user.stored_password(account(db)) is None


def test_channel_mismatch_is_caught(db: Database, user: Env) -> None:
    out = user.run(
        "configure", *server_args(db), "--channel", "OtroCanal", "--password-stdin", stdin=db.pos_password + "\n"
    )
    assert out.returncode == 1
    assert "the trigger sends to 'nueva_entrada_canal' and the agent listens on 'OtroCanal'" in out.stdout
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
        "--sslmode",
        "prefer",
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


def test_no_options_and_no_standard_input_asks_for_options(user: Env) -> None:
    """A windowed exe started without a console (or a scheduler with stdin closed) has ``sys.stdin = None``:
    ``configure`` without options used to end in an AttributeError traceback."""
    out = user.run_without_stdin("configure")
    assert out.returncode == 2, out.stderr
    assert "Nothing to configure" in out.stderr and "Traceback" not in out.stderr


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
    # what to do on a box without a desktop session (the recipe itself is run in test_headless_recipe_...)
    assert "dbus-run-session" in out.stderr and "gnome-keyring-daemon --unlock" in out.stderr
    assert "docs/it-deployment.md" in out.stderr
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
            ("SSL mode [require]: ", "prefer"),  # a new configuration proposes require; this server has no TLS
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
    assert trigger_channel(b"MiCanal\x00") == b"MiCanal"
    assert trigger_channel(b"") == b"nueva_entrada_canal"
    assert trigger_channel("canal_ñ\x00".encode()) == "canal_ñ".encode()


def test_non_ascii_password_with_a_byte_order_mark(db: Database, user: Env) -> None:
    role, password = "aviso_cfg_user", "contraseña-Ü-€"
    with db.connect_admin() as admin, admin.cursor() as cur:
        cur.execute(f'CREATE ROLE "{role}" LOGIN PASSWORD %s', (password,))
        cur.execute(f'GRANT SELECT ON registro_entradas, miembros TO "{role}"')  # configure checks read access
    try:
        out = user.run(
            "configure", *server_args(db), "--user", role, "--password-stdin", stdin="\ufeff" + password + "\n"
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert user.stored_password(account(db, role)) == password
    finally:
        with db.connect_admin() as admin, admin.cursor() as cur:
            cur.execute(f'DROP OWNED BY "{role}"')
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


# ---------------------------------------------------------------------------------------------------------------
# New configurations default to sslmode = require; existing ones keep their mode; keyring states; headless recipe


def test_new_configuration_requires_tls_and_says_how_to_fix(db: Database, user: Env) -> None:
    """No --sslmode on a new configuration: require. This server has no TLS, so nothing is saved and the message
    says both fixes (turn TLS on, or choose prefer knowingly) instead of a bare libpq error."""
    args = ["--host", db.server.host, "--port", str(db.server.port), "--database", db.name]
    out = user.run("configure", *args, "--password-stdin", stdin=db.pos_password + "\n")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "server does not support SSL" in out.stdout
    assert (
        "the settings require it (sslmode = require, the default of new configurations)" in out.stdout
        and "--sslmode prefer" in out.stdout
    )
    assert not user.user_file.exists()
    assert user.stored_password(account(db)) is None


def test_existing_prefer_configuration_is_kept(db: Database, user: Env) -> None:
    first = user.run("configure", *server_args(db), "--password-stdin", stdin=db.pos_password + "\n")
    assert first.returncode == 0, first.stdout + first.stderr
    again = user.run("configure", "--channel", "nueva_entrada_canal")  # no --sslmode, password kept
    assert again.returncode == 0, again.stdout + again.stderr
    show = user.run("configure", "--show")
    assert "connection.sslmode = 'prefer'" in show.stdout, show.stdout


@pytest.fixture(scope="module")
def tls_kit_db(tls_server: TlsServer) -> str:
    """A database with the kit installed on the TLS server (role pos_user, password ``tls-test-pw``)."""
    import psycopg2

    from agent.db import setup

    server = tls_server.server
    admin = psycopg2.connect(server.dsn())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("CREATE DATABASE cfg_tls")
    admin.close()
    conn = psycopg2.connect(server.dsn(dbname="cfg_tls"))
    try:
        setup.apply(conn, schema=True, pos_password="tls-test-pw")
    finally:
        conn.close()
    return "cfg_tls"


def test_new_configuration_against_a_tls_server_saves_require(
    user: Env, tls_server: TlsServer, tls_kit_db: str
) -> None:
    server = tls_server.server
    args = ["--host", server.host, "--port", str(server.port), "--database", tls_kit_db]
    out = user.run("configure", *args, "--password-stdin", stdin="tls-test-pw\n")
    assert out.returncode == 0, out.stdout + out.stderr
    assert tomllib.loads(user.user_file.read_text())["connection"]["sslmode"] == "require"


def test_locked_keyring_saves_nothing_and_says_locked(db: Database, tmp_path: Path) -> None:
    """The collection is locked and no prompt can be shown (SSH): the check passes, storing the password fails
    with "keyring locked" (not "no password saved"), and the settings file is not written either."""
    with secret_service(tmp_path, locked=True) as session:
        env = Env(tmp_path, session)
        env.vars.pop("DISPLAY", None)
        out = env.run("configure", *server_args(db), "--password-stdin", stdin=db.pos_password + "\n")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Keyring locked" in out.stderr and "Nothing was saved" in out.stderr
    assert not env.user_file.exists()


def _documented_recipe() -> str:
    """The headless recipe exactly as docs/it-deployment.md shows it (between its recipe markers)."""
    text = (ROOT / "docs" / "it-deployment.md").read_text(encoding="utf-8")
    block = text.split("<!-- recipe:headless-configure -->", 1)[1].split("<!-- /recipe -->", 1)[0]
    return block.split("```sh\n", 1)[1].split("```", 1)[0]


def test_headless_recipe_from_the_docs_works(tls_server: TlsServer, tls_kit_db: str, tmp_path: Path) -> None:
    """A box reached over SSH: no session bus, no desktop. The documented recipe, run as written (with the
    documented variables, run from the checkout with its literal ``.venv/bin/python``, only the example server's
    address, port and database replaced by the test server's), stores the password in a real gnome-keyring and
    configures; the same recipe later finds it again. It used to rely on exported PGHOST/PGPORT/PGDATABASE and an
    activated virtualenv without saying so."""
    from deploy_support import require

    require("dbus-run-session", "gnome-keyring-daemon")
    home = tmp_path / "home"
    home.mkdir()
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("the recipe runs .venv/bin/python: no .venv in this checkout (build/dev.sh makes it)")
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(ROOT),
        "AVISO_LANG": "en",
        "AVISO_MACHINE_CONFIG_FILE": str(tmp_path / "machine.toml"),
        "KEYRING_PASSWORD": "una-clave-para-el-llavero",
        "DB_PASSWORD": "tls-test-pw",
    }
    recipe = _documented_recipe()
    example = ("--host 192.168.1.50 ", "--port 5432 ", "--database torniquete_db ")
    assert all(part in recipe for part in example) and "$PG" not in recipe and ".venv/bin/python -m agent" in recipe
    for part, value in zip(example, (tls_server.server.host, tls_server.server.port, tls_kit_db), strict=True):
        recipe = recipe.replace(part, f"{part.split()[0]} {value} ")
    out = subprocess.run(["sh", "-c", recipe], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "password saved in GNOME Keyring / Secret Service" in out.stdout
    assert (home / ".local" / "share" / "keyrings").is_dir()  # the keyring file, encrypted by KEYRING_PASSWORD
    assert "tls-test-pw" not in out.stdout + out.stderr
    show = subprocess.run(
        ["sh", "-c", recipe.replace("--password-stdin", "--show").replace('printf %s "$DB_PASSWORD" | ', "")],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert "password of pos_user@" in show.stdout and ": stored" in show.stdout, show.stdout + show.stderr


def test_poll_mode_needs_no_trigger_but_checks_the_select(db: Database, user: Env) -> None:
    """``connection.mode = "poll"`` (set by IT in the machine file; ``setup-db --no-trigger``): the trigger is not
    needed, so ``configure`` must not refuse for want of it; but a role that cannot read the columns the agent
    selects must not be saved as working (it was: the agent then failed at run time)."""
    machine = Path(user.vars["AVISO_MACHINE_CONFIG_FILE"])
    machine.parent.mkdir(parents=True, exist_ok=True)
    machine.write_text('[connection]\nmode = "poll"\n', encoding="utf-8")
    with db.connect_admin() as admin, admin.cursor() as cur:
        cur.execute("DROP TRIGGER aviso_nueva_entrada ON registro_entradas")
    out = user.run("configure", *server_args(db), "--password-stdin", stdin=db.pos_password + "\n")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "connection: OK" in out.stdout
    assert "trigger: not installed" not in out.stdout
    assert user.stored_password(account(db)) == db.pos_password
    # without the SELECT the poller needs, nothing is saved
    with db.connect_admin() as admin, admin.cursor() as cur:
        cur.execute("REVOKE SELECT ON registro_entradas FROM pos_user")
        cur.execute("REVOKE SELECT (id_entrada) ON registro_entradas FROM pos_user")
    user.user_file.unlink()
    out = user.run("configure", *server_args(db), "--password-stdin", stdin=db.pos_password + "\n")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "cannot read registro_entradas.id_entrada" in out.stdout and "setup-db --no-trigger" in out.stdout
    assert not user.user_file.exists()


def test_password_stdin_as_windows_pipes_send_it(db: Database, user: Env) -> None:
    """On Windows a pipe's text encoding is the ANSI code page (cp1252), not UTF-8: a UTF-8 file or PowerShell 7
    pipe (BOM, CRLF) must still give the password, not 'ï»¿contraseÃ±a'; a cp1252/latin-1 file must too (as on a
    Linux box with a UTF-8 locale, where it used to end in a UnicodeDecodeError traceback). A closed standard input
    is "no password given", never a traceback."""
    role, password = "aviso_cfg_pipe", "contraseña-Ü"
    with db.connect_admin() as admin, admin.cursor() as cur:
        cur.execute(f'CREATE ROLE "{role}" LOGIN PASSWORD %s', (password,))
        cur.execute(f'GRANT SELECT ON registro_entradas, miembros TO "{role}"')  # configure checks read access
    try:
        for encoding, sent in (
            ("cp1252", b"\xef\xbb\xbf" + password.encode("utf-8") + b"\r\n"),
            ("utf-8", password.encode("cp1252") + b"\r\n"),
        ):
            out = subprocess.run(
                [sys.executable, "-m", "agent", "configure", *server_args(db), "--user", role, "--password-stdin"],
                input=sent,
                capture_output=True,
                cwd=ROOT,
                env={**user.vars, "PYTHONIOENCODING": encoding},
                timeout=60,
            )
            text = (out.stdout + out.stderr).decode(encoding, "replace")
            assert out.returncode == 0, (encoding, text)
            assert user.stored_password(account(db, role)) == password
            assert "Traceback" not in text
            user.run("configure", "--forget-password")
        closed = user.run_without_stdin("configure", *server_args(db), "--user", role, "--password-stdin")
        assert closed.returncode == 2, closed.stdout + closed.stderr
        assert "Traceback" not in closed.stderr and "is missing" in closed.stderr
    finally:
        with db.connect_admin() as admin, admin.cursor() as cur:
            cur.execute(f'DROP OWNED BY "{role}"')
            cur.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_a_nul_character_in_the_password_is_a_sentence_not_a_traceback(db: Database, user: Env) -> None:
    """A binary file piped by mistake: libpq cannot take a NUL byte; psycopg2 raised a bare ValueError that
    ended configure with a traceback. Now a line, nothing saved, the password never echoed."""
    out = subprocess.run(
        [sys.executable, "-m", "agent", "configure", *server_args(db), "--password-stdin"],
        input=b"se\x00creto-largo\n",
        capture_output=True,
        cwd=ROOT,
        env=user.vars,
        timeout=60,
    )
    text = (out.stdout + out.stderr).decode("utf-8", "replace")
    assert out.returncode == 1, text
    assert "Traceback" not in text and "NUL character" in text
    assert "creto-largo" not in text
    assert not user.user_file.exists()


def test_forget_password_names_the_server_the_options_give(db: Database, user: Env) -> None:
    """IT removes the password of an *old* server: ``configure --host OLD --forget-password``. The options must
    pick the account; it used to forget the configured (current) server's password instead."""
    saved = user.run("configure", *server_args(db), "--password-stdin", stdin=db.pos_password + "\n")
    assert saved.returncode == 0, saved.stdout + saved.stderr
    old = config.credential_account(config.ConnectionSettings(host="10.1.2.3", port=db.server.port, database=db.name))
    store = subprocess.run(
        [sys.executable, "-c", "import sys; from agent.adapters.choose import credential_store; "
         "credential_store().set(sys.argv[1], 'vieja')", old],
        cwd=ROOT, env=user.vars, check=True, capture_output=True,
    )  # fmt: skip
    assert store.returncode == 0
    out = user.run("configure", "--host", "10.1.2.3", "--forget-password")
    assert out.returncode == 0, out.stdout + out.stderr
    assert old in out.stdout
    assert user.stored_password(old) is None
    assert user.stored_password(account(db)) == db.pos_password  # the current server keeps its password
    bad = user.run("configure", "--port", "abc", "--forget-password")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_a_role_level_statement_timeout_does_not_fail_the_check(db: Database, user: Env) -> None:
    """``ALTER ROLE pos_user SET statement_timeout = '1ms'`` (a vendor's or DBA's limit): the agent and doctor set
    their own session limits, so configure's check must too, or its catalog queries are cancelled and nothing can
    ever be saved for that server."""
    with db.connect_admin() as admin, admin.cursor() as cur:
        cur.execute(f"ALTER ROLE pos_user IN DATABASE \"{db.name}\" SET statement_timeout = '1ms'")
    out = user.run("configure", *server_args(db), "--password-stdin", stdin=db.pos_password + "\n")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "statement timeout" not in out.stdout
    assert user.stored_password(account(db)) == db.pos_password


def test_a_relative_sslrootcert_is_saved_as_an_absolute_path(
    user: Env, tls_server: TlsServer, tls_kit_db: str, tmp_path: Path
) -> None:
    """IT runs ``configure --sslrootcert ca.crt`` in the folder holding the CA: the check passes there (libpq reads
    the path relative to the working folder), but the agent started at login runs elsewhere and fails with "root
    certificate file "ca.crt" does not exist". The saved path must be the absolute one that was tested."""
    import shutil

    folder = tmp_path / "certs"
    folder.mkdir()
    shutil.copyfile(tls_server.ca, folder / "ca.crt")
    server = tls_server.server
    args = ["--host", server.host, "--port", str(server.port), "--database", tls_kit_db, "--sslmode", "verify-ca"]
    out = subprocess.run(
        [sys.executable, "-m", "agent", "configure", *args, "--sslrootcert", "ca.crt", "--password-stdin"],
        input="tls-test-pw\n",
        capture_output=True,
        text=True,
        cwd=folder,
        env={**user.vars, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    saved = tomllib.loads(user.user_file.read_text())["connection"]["sslrootcert"]
    assert Path(saved).is_absolute() and Path(saved) == folder / "ca.crt"
    again = user.run("configure", "--sslmode", "verify-ca")  # from another folder: the saved path still works
    assert again.returncode == 0, again.stdout + again.stderr


def test_a_missing_column_is_named_as_missing_not_as_a_grant_to_give(db: Database, user: Env) -> None:
    """A vendor schema without ``tipo_acceso``: "grant it with setup-db" would send IT on a useless errand."""
    with db.connect_admin() as admin, admin.cursor() as cur:
        cur.execute("ALTER TABLE registro_entradas DROP COLUMN tipo_acceso CASCADE")
    out = user.run("configure", *server_args(db), "--password-stdin", stdin=db.pos_password + "\n")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "lacks the columns registro_entradas.tipo_acceso" in out.stdout
    assert "cannot read registro_entradas.tipo_acceso" not in out.stdout
    assert not user.user_file.exists()
