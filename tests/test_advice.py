"""Connection failures -> Problem -> one sentence with the fix, in Spanish and English.

Three sources of truth: the PostgreSQL message catalogs installed on this machine (the exact translated texts a
server with ``lc_messages`` = es/de/fr/it sends), real failures produced against real servers (one of them
configured with ``lc_messages = 'es_ES.UTF-8'``, and a SQL_ASCII database whose messages arrive transliterated),
and the texts of libpq / glibc / Windows socket errors quoted literally where they cannot be produced here.
"""

from __future__ import annotations

import gettext
import glob
import os
import socket
import string
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from agent.core import advice
from agent.core.advice import Problem, classify, explain
from agent.core.i18n import LANGUAGES, MESSAGES
from agent.db import throwaway
from agent.db.connect import ConnectError, connection_kwargs, open_connection

# --------------------------------------------------------------------------------------------------------------
# every problem has a sentence in every language


@pytest.mark.parametrize("problem", list(Problem))
def test_every_problem_has_a_sentence_in_each_language(problem: Problem) -> None:
    texts = {lang: explain(problem, lang) for lang in LANGUAGES}
    for lang, text in texts.items():
        assert text.strip() and text.endswith("."), (lang, text)
        assert "{" not in text and "Traceback" not in text
        assert len(text) < 400, "a tooltip-sized sentence"
    assert texts["es"] != texts["en"]
    assert explain(problem) == texts["es"]  # Spanish by default


def test_advice_keys_exist_only_for_problems() -> None:
    keys = {k.removeprefix("advice.") for k in MESSAGES if k.startswith("advice.")}
    assert keys == {p.value for p in Problem}


def test_the_seed_troubleshooting_advice_is_there() -> None:
    assert "firewall" in explain(Problem.REFUSED, "es") and "listen_addresses" in explain(Problem.REFUSED, "es")
    assert "pg_hba.conf" in explain(Problem.AUTH_FAILED, "es") and "contraseña" in explain(Problem.AUTH_FAILED, "es")
    assert "pip install psycopg2-binary" in explain(Problem.DRIVER_MISSING, "en")
    assert "setup-db" in explain(Problem.SCHEMA, "en")


# --------------------------------------------------------------------------------------------------------------
# libpq (English), glibc and Windows socket texts, PgBouncer


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        # libpq 17 texts, as psycopg2 raises them
        (
            'connection to server at "127.0.0.1", port 1 failed: Connection refused\n\t'
            "Is the server running on that host and accepting TCP/IP connections?",
            Problem.REFUSED,
        ),
        (
            'could not translate host name "torniquete" to address: Name or service not known',
            Problem.UNKNOWN_HOST,
        ),
        (
            'could not translate host name "torniquete" to address: Temporary failure in name resolution',
            Problem.UNKNOWN_HOST,
        ),
        ('connection to server at "10.0.0.9", port 5432 failed: timeout expired', Problem.TIMEOUT),
        (
            'connection to server at "127.0.0.1", port 5432 failed: server does not support SSL, but SSL was required',
            Problem.TLS,
        ),
        (
            'connection to server at "127.0.0.1", port 5432 failed: SSL error: certificate verify failed',
            Problem.TLS,
        ),
        (
            'server certificate for "torniquete.test" does not match host name "otro.test"',
            Problem.TLS,
        ),
        (
            'root certificate file "/nope/ca.crt" does not exist\nEither provide the file, use the system\'s '
            "trusted roots with sslrootcert=system, or change sslmode to disable server certificate verification.",
            Problem.TLS,
        ),
        ("server closed the connection unexpectedly", Problem.CONNECTION_LOST),
        ("SSL SYSCALL error: EOF detected", Problem.CONNECTION_LOST),
        # glibc strerror in Spanish (libpq on a Linux PC with LANG=es_ES.UTF-8)
        ('connection to server at "10.0.0.9", port 5432 failed: Conexión rehusada', Problem.REFUSED),
        ('connection to server at "10.0.0.9", port 5432 failed: Expiró el tiempo de conexión', Problem.TIMEOUT),
        # Windows FormatMessage texts (WSAECONNREFUSED 10061, WSAETIMEDOUT 10060), English and Spanish Windows
        (
            "No connection could be made because the target machine actively refused it. (0x0000274D/10061)",
            Problem.REFUSED,
        ),
        (
            "No se puede establecer una conexión ya que el equipo de destino denegó expresamente dicha conexión. "
            "(0x0000274D/10061)",
            Problem.REFUSED,
        ),
        (
            "A connection attempt failed because the connected party did not properly respond after a period of "
            "time, or established connection failed because connected host has failed to respond.",
            Problem.TIMEOUT,
        ),
        (
            "Se produjo un error durante el intento de conexión ya que la parte conectada no respondió "
            "adecuadamente tras un periodo de tiempo",
            Problem.TIMEOUT,
        ),
        # PgBouncer's own FATAL texts
        ("FATAL:  no such database: torniquete_db", Problem.NO_DATABASE),
        ("FATAL:  unsupported startup parameter: options", Problem.POOLER),
        ("FATAL:  no more connections allowed (max_client_conn)", Problem.TOO_MANY_CONNECTIONS),
        ("something nobody has seen before", Problem.OTHER),
    ],
)
def test_client_side_texts(message: str, problem: Problem) -> None:
    assert classify(None, message) is problem


def test_sqlstate_wins_over_text() -> None:
    assert classify("28P01", "whatever language") is Problem.AUTH_FAILED
    assert classify("3D000", "") is Problem.NO_DATABASE
    assert classify("25006", "no se puede ejecutar LISTEN durante la recuperación") is Problem.READ_ONLY
    assert classify("53300", "") is Problem.TOO_MANY_CONNECTIONS
    assert classify("99999", "password authentication failed") is Problem.AUTH_FAILED  # unknown code: text decides


def test_advise_returns_problem_and_sentence() -> None:
    problem, text = advice.advise(None, "FATAL:  la autentificación password falló para el usuario «pos_user»", "en")
    assert problem is Problem.AUTH_FAILED
    assert text == explain(Problem.AUTH_FAILED, "en")


# --------------------------------------------------------------------------------------------------------------
# server texts from the PostgreSQL message catalogs installed here, with every mojibake they can arrive in

SERVER_MESSAGES: list[tuple[str, tuple[str, ...], Problem]] = [
    ('password authentication failed for user "%s"', ("pos_user",), Problem.AUTH_FAILED),
    ('database "%s" does not exist', ("torniquete_db",), Problem.NO_DATABASE),
    ('role "%s" does not exist', ("pos_user",), Problem.AUTH_FAILED),
    (
        'no pg_hba.conf entry for host "%s", user "%s", database "%s", %s',
        ("192.168.1.50", "pos_user", "torniquete_db", "no encryption"),
        Problem.AUTH_FAILED,
    ),
    (
        'pg_hba.conf rejects connection for host "%s", user "%s", database "%s", %s',
        ("192.168.1.50", "pos_user", "torniquete_db", "SSL encryption"),
        Problem.AUTH_FAILED,
    ),
    ('role "%s" is not permitted to log in', ("pos_user",), Problem.AUTH_FAILED),
    ("cannot execute %s during recovery", ("LISTEN",), Problem.READ_ONLY),
    ("sorry, too many clients already", (), Problem.TOO_MANY_CONNECTIONS),
    ("terminating connection due to administrator command", (), Problem.CONNECTION_LOST),
    ("the database system is starting up", (), Problem.CONNECTION_LOST),
    ('relation "%s" does not exist', ("registro_entradas",), Problem.SCHEMA),
]


def _catalogs() -> Iterator[tuple[str, gettext.GNUTranslations]]:
    for path in sorted(glob.glob("/usr/share/locale/*/LC_MESSAGES/postgres-*.mo")):
        lang = Path(path).parts[-3]
        if lang in ("es", "de", "fr", "it"):
            with open(path, "rb") as f:
                yield lang, gettext.GNUTranslations(f)


def _variants(text: str) -> dict[str, str]:
    """The ways a translated server message reaches us: intact; UTF-8 bytes read as Latin-1; Latin-1 bytes read
    as UTF-8 with replacement; transliterated to ASCII by gettext (SQL_ASCII database: '?' and '<<' '>>')."""
    out = {"utf8": text, "utf8-as-latin1": text.encode("utf-8").decode("latin-1")}
    try:
        out["latin1-as-utf8"] = text.encode("latin-1").decode("utf-8", errors="replace")
        out["decode_server_text"] = advice.decode_server_text(text.encode("latin-1"))
    except UnicodeEncodeError:
        pass
    ascii_text = text.replace("«", "<<").replace("»", ">>")
    out["ascii"] = "".join(ch if ord(ch) < 128 else "?" for ch in ascii_text)
    return out


def test_translated_server_messages_from_the_installed_catalogs() -> None:
    catalogs = list(_catalogs())
    if not any(lang == "es" for lang, _ in catalogs):
        pytest.skip("no Spanish PostgreSQL catalog (postgres-*.mo) installed: install Debian's postgresql")
    checked = 0
    for lang, catalog in catalogs:
        for msgid, args, problem in SERVER_MESSAGES:
            translated = catalog.gettext(msgid)
            if translated == msgid:
                continue  # not translated in this catalog: the English patterns apply
            message = "FATAL:  " + (translated % args if args else translated)
            for how, text in _variants(message).items():
                assert classify(None, text) is problem, (lang, how, text)
                checked += 1
    assert checked >= 100


LIBC_MESSAGES = [
    ("Connection refused", Problem.REFUSED),
    ("Connection timed out", Problem.TIMEOUT),
    ("No route to host", Problem.TIMEOUT),
    ("Network is unreachable", Problem.TIMEOUT),
    ("Name or service not known", Problem.UNKNOWN_HOST),
    ("Temporary failure in name resolution", Problem.UNKNOWN_HOST),
]


def test_socket_errors_from_the_installed_glibc_catalogs() -> None:
    """libpq puts strerror() in its messages; on a PC with LANG=es_ES (or pt/fr/it/de) glibc translates it."""
    checked = 0
    for lang in ("es", "pt_BR", "pt", "fr", "it", "de"):
        path = Path(f"/usr/share/locale/{lang}/LC_MESSAGES/libc.mo")
        if not path.exists():
            continue
        with open(path, "rb") as f:
            catalog = gettext.GNUTranslations(f)
        for msgid, problem in LIBC_MESSAGES:
            text = catalog.gettext(msgid)
            message = f'connection to server at "192.168.1.20", port 5432 failed: {text}'
            if msgid.startswith(("Name", "Temporary")):
                message = f'could not translate host name "torniquete" to address: {text}'
            for how, variant in _variants(message).items():
                assert classify(None, variant) is problem, (lang, how, variant)
                checked += 1
            # without libpq's English prefix too (the strerror text alone must suffice)
            assert classify(None, text) is problem, (lang, text)
    if checked == 0:
        pytest.skip("no glibc message catalogs (libc.mo) installed")


def test_decode_server_text() -> None:
    assert advice.decode_server_text("falló «x»".encode()) == "falló «x»"
    assert advice.decode_server_text("falló «x»".encode("latin-1")) == "falló «x»"
    assert advice.decode_server_text(b"\x81\xff") != ""


# --------------------------------------------------------------------------------------------------------------
# real failures


def test_real_client_side_failures() -> None:
    port = throwaway.free_port()
    with pytest.raises(ConnectError) as refused:
        open_connection(connection_kwargs(f"host=127.0.0.1 port={port} dbname=x user=y"))
    assert refused.value.problem is Problem.REFUSED

    with pytest.raises(ConnectError) as unknown:
        open_connection(connection_kwargs("host=no-such-host.invalid dbname=x user=y"))
    assert unknown.value.problem is Problem.UNKNOWN_HOST

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    try:
        with pytest.raises(ConnectError) as timeout:
            open_connection(connection_kwargs(f"host=127.0.0.1 port={silent.getsockname()[1]}", connect_timeout_s=2))
    finally:
        silent.close()
    assert timeout.value.problem is Problem.TIMEOUT
    assert "timeout expired" in str(timeout.value)


def _has_locale(name: str) -> bool:
    out = subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout.split()
    return name in out


@pytest.fixture(scope="module")
def spanish_server() -> Iterator[throwaway.ThrowawayPostgres]:
    if os.environ.get("AVISO_PG_DSN"):
        pytest.skip("needs a throwaway server (AVISO_PG_DSN points at an external one)")
    if not _has_locale("es_ES.utf8"):
        pytest.skip("locale es_ES.UTF-8 missing: build/dev.sh generates it as root (localedef)")
    try:
        bindir = throwaway.find_bindir("system")
    except throwaway.ServerError:
        pytest.skip("needs the machine's PostgreSQL (its Spanish message catalog)")
    if not glob.glob(str(bindir.parent / "share" / "locale" / "es")) and not glob.glob(
        "/usr/share/locale/es/LC_MESSAGES/postgres-*.mo"
    ):
        pytest.skip("this PostgreSQL has no Spanish message catalog")
    server = throwaway.ThrowawayPostgres("system", settings={"lc_messages": "es_ES.UTF-8"}).start()
    admin = psycopg2.connect(server.dsn())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("CREATE ROLE pos_user LOGIN PASSWORD 'correcta'")
        cur.execute("CREATE DATABASE ascii_db ENCODING 'SQL_ASCII' TEMPLATE template0")
    admin.close()
    yield server
    server.stop()


def _fail_connect(dsn: str, password: str | None = None) -> ConnectError:
    with pytest.raises(ConnectError) as info:
        open_connection(connection_kwargs(dsn, password=password))
    return info.value


def test_spanish_server_messages_are_understood(spanish_server: throwaway.ThrowawayPostgres) -> None:
    s = spanish_server
    err = _fail_connect(s.dsn(user="pos_user"), password="incorrecta")
    assert "la autentificación password falló" in err.detail  # really Spanish, from the server
    assert err.sqlstate is None  # psycopg2 gives no SQLSTATE while connecting: only the text tells
    assert err.problem is Problem.AUTH_FAILED
    assert "pg_hba.conf" in explain(err.problem, "es")

    err = _fail_connect(s.dsn(dbname="no_existe"))
    assert "no existe la base de datos" in err.detail
    assert err.problem is Problem.NO_DATABASE

    err = _fail_connect(s.dsn(user="fantasma"), password="x")
    assert err.problem is Problem.AUTH_FAILED


def test_spanish_errors_after_connecting_and_ascii_transliteration(spanish_server: throwaway.ThrowawayPostgres) -> None:
    for dbname in ("postgres", "ascii_db"):
        conn = psycopg2.connect(spanish_server.dsn(dbname=dbname))
        try:
            with conn.cursor() as cur, pytest.raises(psycopg2.Error) as info:
                cur.execute("SELECT * FROM registro_entradas")
        finally:
            conn.close()
        text = str(info.value)
        assert "no existe la relaci" in text, text
        assert classify(info.value.pgcode, text) is Problem.SCHEMA
        assert classify(None, text) is Problem.SCHEMA, text  # the text alone suffices too
        if dbname == "ascii_db":
            assert all(ch in string.printable for ch in text), "transliterated to ASCII by gettext"


# --------------------------------------------------------------------------------------------------------------
# no password to send is not a rejected password
def test_no_password_supplied_is_its_own_problem_with_normal_backoff() -> None:
    """libpq's ``fe_sendauth: no password supplied`` used to read "the server rejected the password" and wait
    60 s (AUTH_FAILED); the server rejected nothing: the agent had no password to send."""
    import random

    from agent.core.backoff import Backoff
    from agent.core.events import ConnState
    from agent.core.state import ConnectionMachine

    message = 'connection to server at "127.0.0.1", port 5432 failed: fe_sendauth: no password supplied\n'
    assert classify(None, message) is Problem.NO_PASSWORD
    assert explain(Problem.NO_PASSWORD, "es").startswith(
        "No hay contraseña guardada para este servidor: ejecute «python -m agent configure»"
    )
    assert explain(Problem.NO_PASSWORD, "en").startswith(
        "No password is stored for this server: run 'python -m agent configure'"
    )
    assert "rechaz" not in explain(Problem.NO_PASSWORD, "es")
    m = ConnectionMachine(Backoff(base_s=1, jitter=0, rng=random.Random(0)), auth_retry_s=60)
    assert m.failed(0.0, Problem.NO_PASSWORD, message) == 1
    assert m.state is ConnState.BACKING_OFF


def test_real_no_password_from_libpq(db: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))
    err = _fail_connect(db.server.dsn(dbname=db.name, user="pos_user"))  # type: ignore[attr-defined]
    assert "no password supplied" in err.detail
    assert err.problem is Problem.NO_PASSWORD
