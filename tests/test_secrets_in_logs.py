"""The database password never shows up: not in the agent's log (every logger at DEBUG), not in the server log,
not in ``doctor``'s output, not in exceptions, tracebacks or ``repr`` — after failed and successful logins,
through the connect helper, ``doctor`` (library and CLI) and the listener engine.

Each test uses a fresh random password, sets it on ``pos_user`` with a client-side SCRAM verifier (as
``setup-db`` does), then scans everything that was written for it.
"""

from __future__ import annotations

import logging
import queue
import secrets
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from psycopg2.extensions import encrypt_password

from agent import doctor
from agent.core import names
from agent.core.events import ConnState, Event, StateChanged
from agent.db.connect import ConnectError, connection_kwargs, open_connection, redact, safe_dsn
from tests.conftest import Database

ROOT = Path(__file__).resolve().parent.parent


def _set_password(db: Database, value: str) -> None:
    conn = db.connect_admin()
    verifier = encrypt_password(value, names.ROLE, conn, "scram-sha-256")
    with conn.cursor() as cur:
        cur.execute(f"ALTER ROLE {names.ROLE} PASSWORD %s", (verifier,))
    conn.close()


@pytest.fixture
def secret(db: Database) -> Iterator[str]:
    """A fresh password for pos_user (distinctive, easy to grep for). Roles are cluster-wide, shared by every
    test database: the session's password is put back afterwards."""
    value = "Sec-" + secrets.token_hex(10)
    _set_password(db, value)
    try:
        yield value
    finally:
        _set_password(db, db.pos_password)


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    """Every logger, DEBUG and up, into a file (what the agent's log file would hold)."""
    path = tmp_path / "agent.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()


def assert_absent(secret: str, where: str, text: str) -> None:
    assert secret not in text, f"password found in {where}"
    # Also not a prefix long enough to identify it (e.g. cut by a width limit)
    assert secret[:10] not in text, f"password prefix found in {where}"


def pos_dsn(db: Database) -> str:
    return db.server.dsn(dbname=db.name, user=names.ROLE)


def test_connect_helper_failed_and_successful_logins(db: Database, secret: str, log_file: Path) -> None:
    texts: list[tuple[str, str]] = []
    wrong = secret[::-1]  # a wrong password is a secret too (often a typo of the right one)
    for password in (wrong, secret):
        kwargs = connection_kwargs(pos_dsn(db), password=password)
        texts += [("repr(kwargs)", repr(kwargs)), ("str(kwargs)", str(kwargs)), ("safe_dsn", safe_dsn(kwargs))]
        try:
            conn = open_connection(kwargs)
        except ConnectError as exc:
            assert password == wrong and exc.problem.value == "auth_failed"
            texts += [("str(exc)", str(exc)), ("repr(exc)", repr(exc))]
            texts.append(("traceback", "".join(traceback.format_exception(exc))))
        else:
            assert password == secret
            texts += [("conn.dsn", conn.dsn), ("repr(conn)", repr(conn))]
            texts.append(("dsn_parameters", repr(conn.info.dsn_parameters)))
            conn.close()
    # A password typed into the DSN by mistake is moved out of it, and never echoed either.
    kwargs = connection_kwargs(pos_dsn(db) + f" password={secret}")
    assert kwargs["password"] == secret and secret not in kwargs["dsn"]
    open_connection(kwargs).close()
    texts += [("repr(kwargs inline)", repr(kwargs))]
    with pytest.raises(ValueError) as malformed:
        connection_kwargs(f"host=x password={secret} oops")
    texts.append(("malformed DSN error", str(malformed.value) + repr(malformed.value.__cause__ or "")))

    logged = log_file.read_text(encoding="utf-8")
    assert "connection to" in logged and "failed (auth_failed)" in logged  # the failure really was logged
    texts.append(("agent log", logged))
    texts.append(("server log", db.server.log_text() if hasattr(db.server, "log_text") else ""))
    for where, text in texts:
        assert_absent(secret, where, text)
        assert_absent(wrong, where, text)


def test_doctor_library_and_cli(db: Database, secret: str, log_file: Path) -> None:
    wrong = "Wrong-" + secrets.token_hex(8)
    bad = doctor.run(doctor.Target(dsn=pos_dsn(db), password=wrong, listen_timeout_s=2.0), lang="en")
    good = doctor.run(doctor.Target(dsn=pos_dsn(db), password=secret, listen_timeout_s=2.0), lang="en")
    assert not bad.ok and bad.result("auth").status.value == "fail"
    assert good.ok, good.table()
    texts = [
        ("report tables", bad.table() + good.table()),
        ("report json", repr(bad.to_json()) + repr(good.to_json())),
        ("repr(Target)", repr(doctor.Target(dsn=pos_dsn(db), password=secret))),
        ("agent log", log_file.read_text(encoding="utf-8")),
    ]
    for password in (wrong, secret):
        proc = subprocess.run(
            [sys.executable, "-m", "agent", "doctor", "--dsn", pos_dsn(db), "--password-stdin", "--json"],
            input=password + "\n",
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
        assert proc.returncode == (0 if password == secret else 1), proc.stderr
        texts.append(("doctor CLI output", proc.stdout + proc.stderr))
    texts.append(("server log", db.server.log_text() if hasattr(db.server, "log_text") else ""))
    for where, text in texts:
        assert_absent(secret, where, text)
        assert_absent(wrong, where, text)


def _engine_states(password: str, db: Database, want: ConnState, timeout_s: float = 15.0) -> list[StateChanged]:
    from agent.db.engine import EngineConfig, ListenerEngine

    events: queue.Queue[Event] = queue.Queue()
    config = EngineConfig(dsn=pos_dsn(db), password=password, connect_timeout_s=2.0, auth_retry_s=30.0)
    engine = ListenerEngine(config, events, lang="en")
    seen: list[StateChanged] = []
    engine.start()
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                ev = events.get(timeout=0.2)
            except queue.Empty:
                continue
            if isinstance(ev, StateChanged):
                seen.append(ev)
                if ev.state is want:
                    break
        assert any(ev.state is want for ev in seen), seen
        assert secret_free_repr(engine, config, password)
    finally:
        engine.stop(2.0)
    return seen


def secret_free_repr(engine: object, config: object, password: str) -> bool:
    return password not in repr(engine) and password not in repr(config) and password not in str(config)


def test_listener_engine_log_and_events(db: Database, secret: str, log_file: Path) -> None:
    wrong = "Wrong-" + secrets.token_hex(8)
    failed = _engine_states(wrong, db, ConnState.AUTH_FAILED)
    ok = _engine_states(secret, db, ConnState.LISTENING)
    logged = log_file.read_text(encoding="utf-8")
    assert "auth_failed" in logged or "authentication failed" in logged  # the failure was logged
    events_text = repr(failed) + repr(ok) + " ".join(ev.reason for ev in failed + ok)
    assert "pg_hba.conf" in events_text  # the tooltip reason is the advice sentence, not a traceback
    for where, text in (("agent log", logged), ("engine events", events_text)):
        assert_absent(secret, where, text)
        assert_absent(wrong, where, text)


def test_redact() -> None:
    assert redact("x pw123 y", "pw123") == "x ******** y"
    assert redact("host=h password='a b\\' c' user=u") == "host=h password=******** user=u"
    assert redact("postgresql://pos_user:s3cr3t@host/db") == "postgresql://pos_user:********@host/db"
    assert redact("nothing here", None) == "nothing here"


def test_psycopg2_connection_error_text_has_no_password_even_with_inline_dsn(db: Database, secret: str) -> None:
    """Belt and braces on libpq itself: even a DSN string with the password inside (never built by the agent)
    yields an error text without it."""
    with pytest.raises(psycopg2.OperationalError) as info:
        psycopg2.connect(pos_dsn(db) + f" password={secret[::-1]}")
    assert secret[::-1] not in str(info.value)


def test_password_in_a_url_dsn_is_moved_out_and_hidden() -> None:
    kwargs = connection_kwargs("postgresql://pos_user:Url-Secret-123@turnstile:5433/torniquete_db?sslmode=require")
    assert kwargs["password"] == "Url-Secret-123"
    assert "Url-Secret-123" not in kwargs["dsn"] and "Url-Secret-123" not in repr(kwargs)
    assert "port=5433" in kwargs["dsn"] and "sslmode=require" in kwargs["dsn"]
    explicit = connection_kwargs("postgresql://pos_user:inline@turnstile/db", password="explicit")
    assert explicit["password"] == "explicit"  # the separate password wins
    assert "inline" not in explicit["dsn"]


def test_the_connection_path_keeps_the_password_out_of_everything(db: Database, secret: str, log_file: Path) -> None:
    """agent.deploy.connection: a keyring password (a real read through the bounded reader, with the in-process
    store), a DSN override with the password inside, a malformed DSN and every keyring error: none of their
    repr/str/messages (both languages) nor the log holds the password."""
    from agent.adapters.credentials_memory import MemoryStore
    from agent.core.config import ConnectionSettings, credential_account
    from agent.deploy import connection

    texts: list[tuple[str, str]] = []
    settings = ConnectionSettings(host=db.server.host, port=db.server.port, database=db.name)
    store = MemoryStore()
    store.set(credential_account(settings), secret)

    def from_store(account: str, timeout_s: float) -> str | None:
        return connection.read_keyring_password(account, timeout_s, open_store=lambda: store)

    params = connection.resolve(settings, read_password=from_store)
    assert params.password == secret and params.password_source == "keyring"
    conn = open_connection(params.connect_kwargs())
    texts += [("repr(params)", repr(params)), ("kwargs", repr(params.connect_kwargs())), ("conn.dsn", conn.dsn)]
    conn.close()
    inline = connection.resolve(None, dsn_override=pos_dsn(db) + f" password={secret}")
    assert inline.password == secret and secret not in inline.dsn
    texts.append(("repr(inline params)", repr(inline)))
    with pytest.raises(connection.MalformedDsn) as bad:
        connection.resolve(None, dsn_override=f"host=x password={secret} oops")
    texts.append(("malformed", str(bad.value) + repr(bad.value) + "".join(traceback.format_exception(bad.value))))
    for problem in (
        connection.KeyringLocked("locked"),
        connection.KeyringUnreachable("no bus"),
        connection.KeyringTimedOut(5.0),
        connection.NoPasswordStored(credential_account(settings)),
        bad.value,
    ):
        texts += [(type(problem).__name__ + lang, problem.message(lang) + problem.state(lang)) for lang in ("es", "en")]
    texts.append(("agent log", log_file.read_text(encoding="utf-8")))
    for where, text in texts:
        assert_absent(secret, where, text)


@pytest.mark.parametrize(
    "tricky",
    ["it's a \\ back\\slash", "a=b c=d", "  spaces  ", "ñandú-€-😀", "'", "\\", "password=x", "%41%40", "ends\\"],
)
def test_tricky_passwords_authenticate_and_never_show(db: Database, tricky: str, log_file: Path) -> None:
    """Quotes, backslashes, spaces, ``=``, non-ASCII, a trailing backslash, a conninfo-looking or percent-encoded
    password: the one path passes it to libpq intact (it authenticates), from the keyring and inside a URL DSN
    (percent-encoded), and a failed login's text never holds it."""
    from urllib.parse import quote

    from agent.core.config import ConnectionSettings
    from agent.deploy import connection

    _set_password(db, tricky)
    try:
        settings = ConnectionSettings(host=db.server.host, port=db.server.port, database=db.name)
        params = connection.resolve(settings, read_password=lambda _a, _t: tricky)
        open_connection(params.connect_kwargs()).close()
        url = f"postgresql://{names.ROLE}:{quote(tricky, safe='')}@{db.server.host}:{db.server.port}/{db.name}"
        via_url = connection.resolve(None, dsn_override=url)
        assert via_url.password == tricky
        open_connection(via_url.connect_kwargs()).close()
        wrong = connection.resolve(settings, password_override=tricky + "x")
        with pytest.raises(ConnectError) as info:
            open_connection(wrong.connect_kwargs())
        assert info.value.problem.value == "auth_failed"
        if len(tricky.strip()) >= 4:
            assert tricky + "x" not in str(info.value)
            assert tricky not in log_file.read_text(encoding="utf-8")
    finally:
        _set_password(db, db.pos_password)


def test_a_malformed_dsn_leaves_no_password_in_a_logged_traceback(tmp_path: Path) -> None:
    """``password=my secret`` (a space, unquoted): libpq's parse error quotes the word after it ('missing "="
    after "secret"'). connection_kwargs' ValueError never quoted it, but chained libpq's error as its cause, and
    a traceback in the log file (the desk loop's exception barrier logs them) printed that cause. Also any
    ``password=...`` inside an exception's text is masked in the log file like in a message."""
    from agent import logging_setup

    path = logging_setup.setup_logging("DEBUG", console=False, path=tmp_path / "agent.log")
    log = logging.getLogger("aviso.test")
    try:
        dsn = "host=127.0.0.1 password=my " + "Xsec" + "ret7 user=u"  # (a traceback prints source lines too)
        try:
            connection_kwargs(dsn)
        except ValueError:
            log.exception("connection parameters failed")
        said = "libpq said: host=h password=" + "Hunter" + "2Pw dbname=d"
        try:
            raise RuntimeError(said)
        except RuntimeError:
            log.exception("something failed")
        for handler in logging.getLogger().handlers:
            handler.flush()
        text = path.read_text(encoding="utf-8")
        assert "connection parameters failed" in text and "something failed" in text and "Traceback" in text
        assert "Xsecret7" not in text
        assert "Hunter2Pw" not in text
    finally:
        for handler in list(logging.getLogger().handlers):
            if getattr(handler, "_aviso", False):
                logging.getLogger().removeHandler(handler)
                handler.close()


def test_redact_a_url_password_with_a_raw_at_sign() -> None:
    """``postgresql://u:p@ss@host/db``: an unencoded ``@`` in the password (people type it so) left ``ss`` in the
    log after masking up to the first ``@``. Masking runs to the last ``@`` of the URL (over-masking is safe)."""
    for url in ("postgresql://u:p@ss@host/db", "postgres://u:p@s/s@host:5432/db?sslmode=require"):
        clean = redact(f"connecting to {url} failed")
        assert "ss@" not in clean and "s/s" not in clean, clean
        assert clean.startswith("connecting to postgres") and clean.endswith("failed")
