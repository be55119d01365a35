"""Database kit against a real server: trigger, payload, size guard, queue guard, pos_user (issue 2).

Every test runs on a fresh database (``db`` fixture: schema + trigger + pos_user + demo members) or on an empty one
(``empty_db``), on the server chosen by ``AVISO_PG_BACKEND`` (CI: the machine's PostgreSQL 15 and pgserver's 16).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg2
import psycopg2.errors
import pytest

from agent.core import names
from agent.db import demo_data, setup, throwaway
from tests.conftest import Database, create_database

ROOT = Path(__file__).resolve().parent.parent
SQL = ROOT / "sql"
CHANNEL = names.DEFAULT_CHANNEL
FULL_KEYS = {"v", "id_entrada", "id_miembro", "fecha_hora", "torniquete", "resultado", "miembro"}
MEMBER_KEYS = {
    "nombre",
    "apellido",
    "plan",
    "fecha_vencimiento",
    "saldo_pendiente",
    "fecha_nacimiento",
    "foto_url",
    "notas",
}
MINIMAL_KEYS = {"v", "id_entrada", "id_miembro", "fecha_hora", "truncated"}
POS_ENTRY_COLUMNS = set(names.ENTRY_COLUMNS)
POS_MEMBER_COLUMNS = set(names.MEMBER_COLUMNS)


# -- helpers (also used by tests/test_setup_db_cli.py) ---------------------------------------------------------------
def listen(dsn: str, *channels: str) -> psycopg2.extensions.connection:
    """An autocommit connection LISTENing on ``channels`` (quoted: case-sensitive)."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        for channel in channels or (CHANNEL,):
            cur.execute(f'LISTEN "{channel}"')
    return conn


def drain(
    conn: psycopg2.extensions.connection, *, expect: int | None = None, timeout: float = 2.0
) -> list[tuple[str, str]]:
    """(channel, payload) of the notifications received: until ``expect`` arrived, or for ``timeout`` s if None."""
    out: list[tuple[str, str]] = []
    deadline = time.monotonic() + timeout
    while True:
        conn.poll()
        out.extend((n.channel, n.payload) for n in conn.notifies)
        conn.notifies.clear()
        left = deadline - time.monotonic()
        if (expect is not None and len(out) >= expect) or left <= 0:
            return out
        select.select([conn], [], [], min(left, 0.5))


def payloads(conn: psycopg2.extensions.connection, **kw: float | int | None) -> list[dict[str, object]]:
    return [json.loads(p) for _, p in drain(conn, **kw)]  # type: ignore[arg-type]


def insert_entry(
    dsn_or_conn: str | psycopg2.extensions.connection, member_id: int | None, access: str = "miembro", **cols: object
) -> int:
    """Insert one committed entry; returns its id_entrada."""
    conn = psycopg2.connect(dsn_or_conn) if isinstance(dsn_or_conn, str) else dsn_or_conn
    try:
        fields = {"id_miembro": member_id, "tipo_acceso": access, **cols}
        with conn.cursor() as cur:
            cur.execute(
                f"INSERT INTO registro_entradas ({', '.join(fields)}) VALUES ({', '.join(['%s'] * len(fields))})"
                " RETURNING id_entrada",
                list(fields.values()),
            )
            row = cur.fetchone()
        conn.commit()
        assert row is not None
        return int(row[0])
    finally:
        if isinstance(dsn_or_conn, str):
            conn.close()


def member_id(db: Database, key: str) -> int:
    """id_miembro of the demo member ``key`` (see agent.db.demo_data)."""
    member = next(m for m in demo_data.MEMBERS if m.key == key)
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT id_miembro FROM miembros WHERE nombre = %s AND apellido = %s", (member.first_name, member.last_name)
        )
        row = cur.fetchone()
    assert row is not None
    return int(row[0])


def psql_binary(server: object) -> str:
    """The psql client: the server's own, else the one on PATH (Debian's postgresql-client)."""
    bindir = getattr(server, "bindir", None)
    if bindir is not None and (Path(bindir) / "psql").exists():
        return str(Path(bindir) / "psql")
    found = shutil.which("psql")
    if not found:
        pytest.fail("psql not found: build/dev.sh installs Debian's postgresql package")
    return found


def run_psql(db_dsn: str, server: object, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [psql_binary(server), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db_dsn, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=ROOT)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


class ServerLog:
    """The part of the throwaway server's log written after construction (None on an external server)."""

    def __init__(self, server: object) -> None:
        self._server = server if isinstance(server, throwaway.ThrowawayPostgres) else None
        self._start = len(self._server.log_text()) if self._server else 0

    @property
    def available(self) -> bool:
        return self._server is not None

    def new_text(self, settle_s: float = 0.3) -> str:
        if self._server is None:
            return ""
        time.sleep(settle_s)  # the logger process writes asynchronously
        return self._server.log_text()[self._start :]


@contextlib.contextmanager
def empty_database(server: throwaway.ThrowawayPostgres | throwaway.ExternalPostgres) -> Iterator[str]:
    """Name of a new empty database (from template0), dropped afterwards."""
    name = create_database(server, "template0")
    try:
        yield name
    finally:
        drop_database(server, name)


def drop_database(server: throwaway.ThrowawayPostgres | throwaway.ExternalPostgres, name: str) -> None:
    """DROP DATABASE after ending its sessions (portable to PostgreSQL 12: no ``WITH (FORCE)``, which is 13+)."""
    admin = psycopg2.connect(server.dsn())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
    admin.close()


@pytest.fixture
def empty_db(pg_server: throwaway.ThrowawayPostgres | throwaway.ExternalPostgres) -> Iterator[str]:
    with empty_database(pg_server) as name:
        yield name


@pytest.fixture(autouse=True)
def pos_user_left_as_found(
    pg_server: throwaway.ThrowawayPostgres | throwaway.ExternalPostgres, pos_password: str, template_db: str
) -> Iterator[None]:
    """``pos_user`` is cluster-wide, shared by every test database: a kit test must leave its password and
    attributes as the session set them, or later tests (engine, doctor) fail for no reason of their own."""
    yield
    admin = psycopg2.connect(pg_server.dsn())
    with admin.cursor() as cur:
        cur.execute(
            "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls"
            " FROM pg_roles WHERE rolname = 'pos_user'"
        )
        row = cur.fetchone()
    admin.close()
    if row is None:  # not created yet in this session
        return
    assert row == (True, False, False, False, False, False)
    psycopg2.connect(pg_server.dsn(user="pos_user", password=pos_password)).close()


def trigger_oids(conn: psycopg2.extensions.connection) -> tuple[int, int, bytes]:
    """(trigger OID, function OID, tgargs) of the installed trigger."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT t.oid, t.tgfoid, t.tgargs FROM pg_trigger t "
            "WHERE t.tgrelid = 'registro_entradas'::regclass AND t.tgname = %s",
            (names.TRIGGER_NAME,),
        )
        row = cur.fetchone()
    assert row is not None, "trigger not installed"
    return int(row[0]), int(row[1]), bytes(row[2])


# -- which rows notify -----------------------------------------------------------------------------------------------
def test_only_member_entries_notify(db: Database) -> None:
    listener = listen(db.admin_dsn())
    with db.connect_admin(autocommit=False) as conn:
        visitor = insert_entry(conn, None, "visitante")
        employee = insert_entry(conn, None, "empleado")
        member = insert_entry(conn, member_id(db, "current"), "miembro")
        denied = insert_entry(conn, member_id(db, "expired"), "miembro", resultado="denegado")
    got = payloads(listener, expect=2)
    assert drain(listener, timeout=0.3) == []
    assert [p["id_entrada"] for p in got] == [member, denied]
    assert visitor not in {p["id_entrada"] for p in got} and employee not in {p["id_entrada"] for p in got}
    assert got[1]["resultado"] == "denegado"


def test_payload_schema_and_no_sensitive_column(db: Database) -> None:
    listener = listen(db.admin_dsn())
    mid = member_id(db, "balance")
    with db.connect_admin() as conn, conn.cursor() as cur:
        # Sensitive columns filled in with recognisable values.
        cur.execute(
            "UPDATE miembros SET documento = 'DOC-SECRETO-1', telefono = '+34 699 111 222',"
            " email = 'secreto@example.invalid', foto_url = 'https://example.invalid/f.jpg', notas = 'Lesión rodilla'"
            " WHERE id_miembro = %s",
            (mid,),
        )
        cur.execute("SELECT documento, telefono, email FROM miembros WHERE id_miembro = %s", (mid,))
        secrets_row = cur.fetchone()
    assert secrets_row is not None
    entry = insert_entry(db.admin_dsn(), mid, torniquete="norte")
    [(channel, raw)] = drain(listener, expect=1)
    assert channel == CHANNEL
    for value in secrets_row:
        assert value not in raw
    for column in names.SENSITIVE_MEMBER_COLUMNS:
        assert f'"{column}"' not in raw
    body = json.loads(raw, parse_float=Decimal)
    assert set(body) == FULL_KEYS
    assert body["v"] == 1 and type(body["v"]) is int
    assert body["id_entrada"] == entry and body["id_miembro"] == mid
    occurred = dt.datetime.fromisoformat(body["fecha_hora"])
    assert occurred.tzinfo is not None and abs(dt.datetime.now(dt.UTC) - occurred) < dt.timedelta(minutes=5)
    assert body["torniquete"] == "norte" and body["resultado"] == "permitido"
    member = body["miembro"]
    assert set(member) == MEMBER_KEYS
    assert member["nombre"] == "Íñigo" and member["apellido"] == "Zúñiga Peñalver" and member["plan"] == "Anual"
    assert member["saldo_pendiente"] == Decimal("350.00")
    assert dt.date.fromisoformat(member["fecha_vencimiento"]) > dt.date.today()
    dt.date.fromisoformat(member["fecha_nacimiento"])
    assert member["foto_url"] == "https://example.invalid/f.jpg" and member["notas"] == "Lesión rodilla"
    assert "truncated" not in body


# -- size guard ------------------------------------------------------------------------------------------------------
def test_20kb_note_inserts_and_sends_minimal_payload(db: Database) -> None:
    listener = listen(db.admin_dsn())
    mid = member_id(db, "big_note")
    notices_conn = db.connect_admin(autocommit=False)
    entry = insert_entry(notices_conn, mid)
    [(_, raw)] = drain(listener, expect=1)
    body = json.loads(raw)
    assert set(body) == MINIMAL_KEYS
    assert body == {"v": 1, "id_entrada": entry, "id_miembro": mid, "fecha_hora": body["fecha_hora"], "truncated": True}
    assert not [n for n in notices_conn.notices if "aviso_entradas" in n]  # an expected case, not an error
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT octet_length(notas) FROM registro_entradas e JOIN miembros m USING (id_miembro)"
            " WHERE id_entrada = %s",
            (entry,),
        )
        row = cur.fetchone()
    assert row is not None and row[0] > 20_000  # the turnstile's row is there


def test_pg_notify_limit_is_8000_bytes_on_this_server(db: Database) -> None:
    """The fact the size guard relies on (PostgreSQL docs, "NOTIFY"): 7999 bytes pass, 8000 bytes fail."""
    with db.connect_admin() as conn, conn.cursor() as cur:
        # The trigger's formula for the limit (async.c: BLCKSZ - NAMEDATALEN - 128).
        cur.execute(
            "SELECT current_setting('block_size')::int - (current_setting('max_identifier_length')::int + 1) - 128"
        )
        assert cur.fetchone() == (8000,)
        cur.execute("SELECT pg_notify('limite', repeat('x', 7999))")
        with pytest.raises(psycopg2.errors.InvalidParameterValue, match="too long"):
            cur.execute("SELECT pg_notify('limite', repeat('x', 8000))")


def test_size_guard_counts_bytes_not_characters(db: Database) -> None:
    """A payload of < 8000 characters but exactly 8000 bytes gets the minimal payload, without any WARNING."""
    listener = listen(db.admin_dsn())
    mid = member_id(db, "current")
    conn = db.connect_admin(autocommit=False)
    with conn.cursor() as cur:
        cur.execute("SET TimeZone = 'UTC'")
    at = "2026-01-01 10:00:00.123456+00"  # fixed width: to_jsonb trims trailing zeros of the fraction

    def entry_with_note(note: str) -> str:
        with conn.cursor() as cur:
            cur.execute("UPDATE miembros SET notas = %s WHERE id_miembro = %s", (note, mid))
        insert_entry(conn, mid, fecha_hora=at)
        [(_, raw)] = drain(listener, expect=1)
        return raw

    base_note = "ñ" * 3000  # 3000 characters, 6000 bytes
    probe = entry_with_note(base_note)
    assert "truncated" not in probe
    overhead = len(probe.encode()) - len(base_note.encode())
    # Entry ids stay one digit wide (a fresh database has < 10 entries), so the payload size is predictable.
    for target, truncated in ((7999, False), (8000, True)):
        wide = (7999 - overhead) // 2 - 1
        note = "ñ" * wide + "a" * (target - overhead - 2 * wide)
        raw = entry_with_note(note)
        body = json.loads(raw)
        full_size = overhead + len(note.encode())
        assert full_size == target and overhead + len(note) < 8000  # bytes hit the limit, characters do not
        if truncated:
            assert set(body) == MINIMAL_KEYS and body["truncated"] is True
        else:
            assert len(raw.encode()) == 7999 and body["miembro"]["notas"] == note
    assert not [n for n in conn.notices if "aviso_entradas" in n], conn.notices
    conn.close()


# -- nothing in the notification path aborts the INSERT --------------------------------------------------------------
@pytest.mark.parametrize("breakage", ["revoked", "renamed"])
def test_broken_member_lookup_still_inserts(db: Database, breakage: str) -> None:
    log = ServerLog(db.server)
    listener = listen(db.admin_dsn())
    mid = member_id(db, "current")
    conn = db.connect_admin(autocommit=False)
    role = f"torniquete_app_{secrets.token_hex(3)}"
    with conn.cursor() as cur:
        if breakage == "revoked":
            # The turnstile's own role may insert but not read miembros: the trigger's SELECT fails.
            cur.execute(f"CREATE ROLE {role}")
            cur.execute(f"GRANT INSERT, SELECT (id_entrada) ON registro_entradas TO {role}")
            cur.execute(f"GRANT USAGE ON SEQUENCE registro_entradas_id_entrada_seq TO {role}")
            cur.execute(f"SET ROLE {role}")
        else:
            cur.execute("ALTER TABLE miembros RENAME TO miembros_renombrada")
    conn.commit()
    try:
        entry = insert_entry(conn, mid)
        [(_, raw)] = drain(listener, expect=1)
        body = json.loads(raw)
        assert body == {
            "v": 1,
            "id_entrada": entry,
            "id_miembro": mid,
            "fecha_hora": body["fecha_hora"],
            "truncated": True,
        }
        warnings = [n for n in conn.notices if "aviso_entradas" in n]
        assert len(warnings) == 1 and warnings[0].startswith("WARNING:")
        assert f"entry {entry} failed" in warnings[0]
        assert ("42501" if breakage == "revoked" else "42P01") in warnings[0]
        if log.available:
            assert f"WARNING:  aviso_entradas: full payload for entry {entry} failed" in log.new_text()
        with db.connect_admin() as admin, admin.cursor() as cur:
            cur.execute("SELECT id_miembro FROM registro_entradas WHERE id_entrada = %s", (entry,))
            assert cur.fetchone() == (mid,)
    finally:
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute("RESET ROLE")
            if breakage == "revoked":
                cur.execute(f"DROP OWNED BY {role}")
                cur.execute(f"DROP ROLE {role}")
        conn.commit()
        conn.close()


def test_inserting_role_needs_only_column_select_on_display_columns(db: Database) -> None:
    """The trigger reads the member's display columns, not the whole row: no SELECT on documento/telefono/email."""
    listener = listen(db.admin_dsn())
    mid = member_id(db, "current")
    role = f"torniquete_app_{secrets.token_hex(3)}"
    conn = db.connect_admin(autocommit=False)
    with conn.cursor() as cur:
        cur.execute(f"CREATE ROLE {role}")
        cur.execute(f"GRANT INSERT, SELECT (id_entrada) ON registro_entradas TO {role}")
        cur.execute(f"GRANT USAGE ON SEQUENCE registro_entradas_id_entrada_seq TO {role}")
        cur.execute(
            f"GRANT SELECT (id_miembro, nombre, apellido, plan, fecha_vencimiento, saldo_pendiente,"
            f" fecha_nacimiento, foto_url, notas) ON miembros TO {role}"
        )
        cur.execute(f"SET ROLE {role}")
    conn.commit()
    try:
        entry = insert_entry(conn, mid)
        [body] = payloads(listener, expect=1)
        assert body["id_entrada"] == entry and "truncated" not in body
        assert body["miembro"]["nombre"] == "María José"  # type: ignore[index]
        assert not [n for n in conn.notices if "aviso_entradas" in n]
    finally:
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute("RESET ROLE")
            cur.execute(f"DROP OWNED BY {role}")
            cur.execute(f"DROP ROLE {role}")
        conn.commit()
        conn.close()


def test_rolled_back_insert_notifies_nothing(db: Database) -> None:
    listener = listen(db.admin_dsn())
    mid = member_id(db, "current")
    conn = db.connect_admin(autocommit=False)
    insert_entry_no_commit = (
        "INSERT INTO registro_entradas (id_miembro, tipo_acceso) VALUES (%s, 'miembro') RETURNING id_entrada"
    )
    with conn.cursor() as cur:
        cur.execute(insert_entry_no_commit, (mid,))
    conn.rollback()
    assert drain(listener, timeout=0.5) == []
    # A savepoint rolled back inside a committed transaction: only the surviving row notifies.
    with conn.cursor() as cur:
        cur.execute("SAVEPOINT s")
        cur.execute(insert_entry_no_commit, (mid,))
        cur.execute("ROLLBACK TO SAVEPOINT s")
        cur.execute(insert_entry_no_commit, (mid,))
        row = cur.fetchone()
    conn.commit()
    assert row is not None
    assert [p["id_entrada"] for p in payloads(listener, expect=1)] == [row[0]]
    assert drain(listener, timeout=0.3) == []
    conn.close()


def test_10000_rows_in_one_transaction_give_10000_notifications(db: Database) -> None:
    listener = listen(db.admin_dsn())
    with db.connect_admin(autocommit=False) as conn, conn.cursor() as cur:
        cur.execute("SELECT array_agg(id_miembro ORDER BY id_miembro) FROM miembros")
        row = cur.fetchone()
        assert row is not None
        ids = row[0]
        started = time.perf_counter()
        # Distinct payloads (each names its id_entrada), so NOTIFY's de-duplication cannot merge any of them.
        cur.execute(
            "INSERT INTO registro_entradas (id_miembro, tipo_acceso)"
            " SELECT (%s::bigint[])[1 + g %% %s], 'miembro' FROM generate_series(1, 10000) AS g RETURNING id_entrada",
            (ids, len(ids)),
        )
        inserted = [r[0] for r in cur.fetchall()]
        cur.execute("INSERT INTO registro_entradas (id_miembro, tipo_acceso) VALUES (NULL, 'visitante')")
    insert_s = time.perf_counter() - started
    got = drain(listener, expect=10_000, timeout=30)
    received = [json.loads(p)["id_entrada"] for _, p in got]
    assert len(received) == 10_000
    assert received == sorted(inserted)  # delivered in commit order, each exactly once
    assert drain(listener, timeout=0.3) == []
    truncated = sum(1 for _, p in got if '"truncated": true' in p)
    assert truncated == 10_000 // len(ids)  # the 20 KB member's entries
    print(f"10,000-row insert with trigger: {insert_s:.2f} s")


# -- channel -----------------------------------------------------------------------------------------------------------
def test_mixed_case_channel(db: Database) -> None:
    with db.connect_admin(autocommit=False) as conn:
        report = setup.apply(conn, channel="MiCanal", lang="en")
    assert "trigger: updated, channel MiCanal" in report.lines
    exact = listen(db.admin_dsn(), "MiCanal")
    folded = listen(db.admin_dsn(), "micanal", CHANNEL)
    entry = insert_entry(db.admin_dsn(), member_id(db, "current"))
    assert [(c, json.loads(p)["id_entrada"]) for c, p in drain(exact, expect=1)] == [("MiCanal", entry)]
    assert drain(folded, timeout=0.3) == []


def test_channel_name_validated(db: Database) -> None:
    with db.connect_admin(autocommit=False) as conn:
        for bad in ("", "x" * 64, "ñ" * 32, "a\x00b"):
            with pytest.raises(setup.SetupError, match="1 to 63 bytes"):
                setup.apply(conn, channel=bad, lang="en")


@pytest.mark.parametrize("channel", ["canal con 'comilla' y \"dobles\"", "ñandú" * 9])
def test_unusual_channel_names_work_end_to_end(db: Database, channel: str) -> None:
    """Quotes, spaces and non-ASCII (63 bytes exactly) survive setup-db, the trigger and a quoted LISTEN."""
    assert len(channel.encode()) <= 63  # the second one: exactly 63
    conn = db.connect_admin(autocommit=False)
    setup.apply(conn, channel=channel)
    first = trigger_oids(conn)
    assert first[2] == channel.encode() + b"\x00"
    assert setup.apply(conn, channel=channel, lang="en").lines[0].endswith("unchanged")  # idempotence check
    assert trigger_oids(conn) == first
    conn.close()
    listener = psycopg2.connect(db.admin_dsn())
    listener.autocommit = True
    with listener.cursor() as cur:
        cur.execute("LISTEN " + psycopg2.extensions.quote_ident(channel, cur))
    entry = insert_entry(db.admin_dsn(), member_id(db, "current"))
    assert [(c, json.loads(p)["id_entrada"]) for c, p in drain(listener, expect=1)] == [(channel, entry)]


# -- idempotence, psql path ------------------------------------------------------------------------------------------
def test_rerunning_setup_is_a_no_op(db: Database) -> None:
    conn = db.connect_admin(autocommit=False)
    before = trigger_oids(conn)
    conn.commit()

    def grants() -> list[tuple[str, str, str]]:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT table_name, column_name, privilege_type FROM information_schema.column_privileges"
                " WHERE grantee = 'pos_user' ORDER BY 1, 2, 3"
            )
            rows = cur.fetchall()
        conn.commit()
        return rows

    # A database copied from a template does not inherit the template's database ACL (CONNECT): the first run
    # may re-grant it; from then on, nothing changes.
    first = setup.apply(conn, lang="en")
    assert first.lines[0] == f"trigger: already installed, channel {CHANNEL}, unchanged"
    grants_before = grants()
    for _ in range(2):
        report = setup.apply(conn, schema=True, demo_data=True, lang="en")
        assert report.lines == [
            "schema: tables already present, unchanged",
            f"trigger: already installed, channel {CHANNEL}, unchanged",
            "role pos_user: already set up (column-level read-only), unchanged",
            "demo data: already loaded, unchanged",
        ]
    assert trigger_oids(conn) == before
    assert grants() == grants_before
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM miembros")
        assert cur.fetchone() == (len(demo_data.MEMBERS),)
    conn.close()


def test_psql_path(empty_db: str, pg_server: throwaway.ThrowawayPostgres | throwaway.ExternalPostgres) -> None:
    dsn = pg_server.dsn(dbname=empty_db)
    run_psql(dsn, pg_server, "-f", "sql/schema.sql")
    run_psql(dsn, pg_server, "-1", "-v", "channel=OtroCanal", "-f", "sql/setup_postgres_trigger.sql")
    run_psql(dsn, pg_server, "-1", "-f", "sql/create_pos_user.sql")
    conn = psycopg2.connect(dsn)
    first = trigger_oids(conn)
    assert first[2] == b"OtroCanal\x00"
    conn.close()
    # Again, and through setup-db with the same channel: nothing changes.
    proc = run_psql(dsn, pg_server, "-1", "-v", "channel=OtroCanal", "-f", "sql/setup_postgres_trigger.sql")
    assert proc.stdout.strip() == ""  # the preamble prints nothing
    conn = psycopg2.connect(dsn)
    assert trigger_oids(conn) == first
    report = setup.apply(conn, channel="OtroCanal", lang="en")
    assert "trigger: already installed, channel OtroCanal, unchanged" in report.lines
    assert trigger_oids(conn) == first
    conn.close()
    listener = listen(dsn, "OtroCanal")
    with psycopg2.connect(dsn) as c, c.cursor() as cur:
        cur.execute("INSERT INTO miembros (nombre, apellido) VALUES ('Añoranza', 'Pérez') RETURNING id_miembro")
        row = cur.fetchone()
    assert row is not None
    entry = insert_entry(dsn, row[0])
    [body] = payloads(listener, expect=1)
    assert body["id_entrada"] == entry and body["miembro"]["nombre"] == "Añoranza"  # type: ignore[index]
    # Without -v the default channel applies: the trigger is re-pointed.
    run_psql(dsn, pg_server, "-1", "-f", "sql/setup_postgres_trigger.sql")
    conn = psycopg2.connect(dsn)
    assert trigger_oids(conn)[2] == CHANNEL.encode() + b"\x00"
    conn.close()
    # The trigger file also runs in tools that do not know psql's backslash commands (pgAdmin): default channel.
    body_sql = setup.trigger_sql()
    assert "\\if" not in body_sql and ":'channel'" not in body_sql


# -- queue guard -------------------------------------------------------------------------------------------------------
def test_trigger_checks_queue_usage_before_notifying(db: Database) -> None:
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_get_functiondef(%s::regprocedure)", (names.TRIGGER_FUNCTION + "()",))
        row = cur.fetchone()
    assert row is not None
    src: str = row[0]
    notifies = [i for i in range(len(src)) if src.startswith("PERFORM pg_catalog.pg_notify(", i)]
    # One call, for the full, minimal or after-an-error minimal payload alike, outside the exception block
    # (memory: tests/test_kit_bulk.py), after the queue check.
    assert len(notifies) == 1
    assert src.rindex("EXCEPTION WHEN OTHERS", 0, notifies[0]) < src.rindex("    END;\n", 0, notifies[0])
    previous = 0
    for at in notifies:  # each pg_notify has its own queue check since the previous one
        guard = src.find("pg_catalog.pg_notification_queue_usage()", previous, at)
        assert guard != -1, src[previous:at]
        assert "pg_catalog.pg_notification_queue_usage() >= limite THEN" in src[guard:at]
        previous = at
    assert "umbral  text := pg_catalog.current_setting('aviso_entradas.max_queue_usage', true);" in src


def test_queue_guard_skips_notification_when_queue_is_backed_up(db: Database) -> None:
    """A real backlog held by a listener stuck in a transaction, against a lowered threshold.

    Filling half of the real 8 GB queue (PostgreSQL 12-16) is not practical in a test, so the threshold
    ``aviso_entradas.max_queue_usage`` is set just under the real, measured usage.
    """
    log = ServerLog(db.server)
    stuck = listen(db.admin_dsn(), "relleno")
    stuck.autocommit = False
    with stuck.cursor() as cur:
        cur.execute("SELECT 1")  # idle in transaction: it reads no notifications, so the queue tail stays
    active = listen(db.admin_dsn())
    mid = member_id(db, "current")
    conn = db.connect_admin(autocommit=False)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_notify('relleno', g || repeat('x', 7000)) FROM generate_series(1, 40) AS g")
            conn.commit()
            cur.execute("SELECT pg_notification_queue_usage()")
            row = cur.fetchone()
            assert row is not None
            usage = float(row[0])
            assert usage > 0
            cur.execute("SELECT set_config('aviso_entradas.max_queue_usage', %s, false)", (repr(usage / 2),))
        conn.commit()
        skipped = insert_entry(conn, mid)  # the INSERT succeeds...
        assert drain(active, timeout=0.5) == []  # ...and nothing is sent
        warnings = [n for n in conn.notices if "aviso_entradas" in n]
        assert len(warnings) == 1 and f"entry {skipped} not notified" in warnings[0] and "queue" in warnings[0]
        if log.available:
            assert f"entry {skipped} not notified (agents read it from the table)" in log.new_text()
        with conn.cursor() as cur:
            cur.execute("RESET aviso_entradas.max_queue_usage")
        conn.commit()
        sent = insert_entry(conn, mid)  # default threshold 0.5: the same backlog does not stop it
        assert [p["id_entrada"] for p in payloads(active, expect=1)] == [sent]
    finally:
        stuck.rollback()
        stuck.close()
        conn.close()


@pytest.mark.parametrize("typo", ["0,3", "abc", "", "1e999", pytest.param("9" * 400, id="400-digits"), "-0.1", "NaN"])
def test_a_typo_in_max_queue_usage_still_notifies_with_the_default_threshold(db: Database, typo: str) -> None:
    """``ALTER DATABASE ... SET aviso_entradas.max_queue_usage = '0,3'`` (a decimal comma) once made the cast fail in
    both blocks, so no entry was notified at all: now anything that is not a plain decimal number counts as 0.5."""
    with db.connect_admin() as admin, admin.cursor() as cur:
        cur.execute(f"ALTER DATABASE {db.name} SET aviso_entradas.max_queue_usage = %s", (typo,))
    active = listen(db.admin_dsn())
    conn = psycopg2.connect(db.admin_dsn())  # a new session: it picks the database setting up
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW aviso_entradas.max_queue_usage")
            assert cur.fetchone() == (typo,)
        entry = insert_entry(conn, member_id(db, "current"))
        [body] = payloads(active, expect=1)
        assert body["id_entrada"] == entry and "truncated" not in body, body  # the full payload, no error path
        assert [n for n in conn.notices if "aviso_entradas" in n] == []
    finally:
        conn.close()
        active.close()


def test_valid_max_queue_usage_values_are_used(
    pg_server: throwaway.ThrowawayPostgres | throwaway.ExternalPostgres,
) -> None:
    """The pattern accepts the plain decimals an administrator writes: the trigger's own expression, evaluated by
    the server on each value."""
    src = setup.trigger_sql()
    start = src.index("limite  float8 := ") + len("limite  float8 := ")
    expr = src[start : src.index(";", start)]
    conn = psycopg2.connect(pg_server.dsn())
    try:
        with conn.cursor() as cur:
            for value, expected in [
                ("0.3", 0.3),
                (" 0.25 ", 0.25),
                (".9", 0.9),
                ("1", 1.0),
                ("0.", 0.0),
                ("0,3", 0.5),
                (None, 0.5),
                ("", 0.5),
                ("1e-1", 0.1),
                ("1.1920928955078125e-06", 1.1920928955078125e-06),
                ("1e999", 0.5),
                ("0.3.", 0.5),
            ]:
                cur.execute(f"SELECT {expr.replace('umbral', '%(u)s::text')}", {"u": value})
                assert cur.fetchone() == (expected,), value
    finally:
        conn.close()


def test_member_lookup_gives_up_on_a_locked_miembros_and_the_insert_goes_on(db: Database) -> None:
    """With no foreign key from registro_entradas to miembros (typical of real turnstile schemas) and another
    session holding ACCESS EXCLUSIVE on miembros (ALTER TABLE, VACUUM FULL, CLUSTER), the turnstile's INSERT used
    to wait for that session and fail under its statement_timeout; now the lookup gives up after the function's
    lock_timeout (200 ms) and the minimal payload goes out, with a WARNING."""
    with db.connect_admin() as admin, admin.cursor() as cur:
        cur.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'registro_entradas'::regclass AND contype = 'f'"
        )
        for (fk,) in cur.fetchall():
            cur.execute(f'ALTER TABLE registro_entradas DROP CONSTRAINT "{fk}"')
    mid = member_id(db, "current")
    active = listen(db.admin_dsn())
    locker = db.connect_admin(autocommit=False)
    turnstile = psycopg2.connect(db.admin_dsn(), options="-c statement_timeout=3000")
    try:
        with locker.cursor() as cur:
            cur.execute("LOCK TABLE miembros IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        entry = insert_entry(turnstile, mid)  # QueryCanceled after 3 s without the lock_timeout
        took = time.monotonic() - started
        assert took < 2.0, took
        [body] = payloads(active, expect=1)
        assert set(body) == MINIMAL_KEYS and body["id_entrada"] == entry and body["truncated"] is True
        warnings = [n for n in turnstile.notices if "aviso_entradas" in n]
        assert len(warnings) == 1 and "55P03" in warnings[0], warnings
        with turnstile.cursor() as cur:  # the caller's own setting is back after the trigger
            cur.execute("SHOW lock_timeout")
            assert cur.fetchone() == ("0",)
        locker.rollback()
        later = insert_entry(turnstile, mid)  # lock released: the full payload again
        [body] = payloads(active, expect=1)
        assert body["id_entrada"] == later and set(body) == FULL_KEYS
    finally:
        locker.rollback()
        locker.close()
        turnstile.close()
        active.close()


# -- pos_user --------------------------------------------------------------------------------------------------------
def test_pos_user_reads_what_the_agent_needs_and_nothing_else(db: Database) -> None:
    conn = psycopg2.connect(db.pos_dsn())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"SELECT {', '.join(sorted(POS_ENTRY_COLUMNS))} FROM registro_entradas")
        cur.execute(f"SELECT {', '.join(sorted(POS_MEMBER_COLUMNS))} FROM miembros")
        assert len(cur.fetchall()) == len(demo_data.MEMBERS)
        cur.execute(f'LISTEN "{CHANNEL}"')
        denied = [
            *(f"SELECT {c} FROM miembros" for c in names.SENSITIVE_MEMBER_COLUMNS),
            "SELECT * FROM miembros",
            "SELECT fecha_inicio FROM miembros",
            "INSERT INTO registro_entradas (id_miembro, tipo_acceso) VALUES (1, 'miembro')",
            "INSERT INTO miembros (nombre, apellido) VALUES ('x', 'y')",
            "UPDATE registro_entradas SET torniquete = 'x'",
            "UPDATE miembros SET plan = 'x'",
            "DELETE FROM registro_entradas",
            "DELETE FROM miembros",
            "TRUNCATE registro_entradas",
            "SELECT nextval('registro_entradas_id_entrada_seq')",
        ]
        for statement in denied:
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(statement)
        cur.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolcanlogin"
            " FROM pg_roles WHERE rolname = current_user"
        )
        assert cur.fetchone() == (False, False, False, False, False, True)
    conn.close()
    with db.connect_admin() as admin, admin.cursor() as cur:
        cur.execute(
            "SELECT table_name, column_name FROM information_schema.column_privileges"
            " WHERE grantee = 'pos_user' AND privilege_type = 'SELECT'"
        )
        granted = set(cur.fetchall())
        cur.execute(
            "SELECT table_name, privilege_type FROM information_schema.column_privileges"
            " WHERE grantee = 'pos_user' AND privilege_type <> 'SELECT'"
            " UNION ALL SELECT table_name, privilege_type FROM information_schema.table_privileges"
            " WHERE grantee = 'pos_user'"
        )
        assert cur.fetchall() == []
    assert granted == {("registro_entradas", c) for c in POS_ENTRY_COLUMNS} | {
        ("miembros", c) for c in POS_MEMBER_COLUMNS
    }


def test_pos_user_receives_the_notification(db: Database) -> None:
    listener = listen(db.pos_dsn())
    entry = insert_entry(db.admin_dsn(), member_id(db, "birthday"))
    [body] = payloads(listener, expect=1)
    assert body["id_entrada"] == entry and body["miembro"]["nombre"] == "Begoña"  # type: ignore[index]


def test_create_pos_user_takes_back_hand_made_grants(db: Database) -> None:
    try:
        _take_back_hand_made_grants(db)
    finally:  # pos_user is cluster-wide: never leave CREATEDB to later tests
        with db.connect_admin() as conn, conn.cursor() as cur:
            cur.execute("ALTER ROLE pos_user NOCREATEDB")


def _take_back_hand_made_grants(db: Database) -> None:
    for path in ("psql file", "setup-db"):
        with db.connect_admin() as conn, conn.cursor() as cur:
            cur.execute("GRANT SELECT, INSERT ON miembros, registro_entradas TO pos_user")
            cur.execute("ALTER ROLE pos_user CREATEDB")
            if path == "psql file":
                cur.execute(SQL.joinpath("create_pos_user.sql").read_text(encoding="utf-8"))
        if path == "setup-db":
            conn = db.connect_admin(autocommit=False)
            report = setup.apply(conn, lang="en")
            conn.close()
            assert "role pos_user: grants refreshed (column-level read-only)" in report.lines
        with (
            psycopg2.connect(db.pos_dsn()) as conn,
            conn.cursor() as cur,
            pytest.raises(psycopg2.errors.InsufficientPrivilege),
        ):
            cur.execute("SELECT email FROM miembros")
        with db.connect_admin() as conn, conn.cursor() as cur:
            cur.execute("SELECT rolcreatedb FROM pg_roles WHERE rolname = 'pos_user'")
            assert cur.fetchone() == (False,)


def test_table_owner_with_createrole_can_install_the_kit() -> None:
    """Not only a superuser: the database owner with CREATEROLE (own server: roles are cluster-wide)."""
    if os.environ.get("AVISO_PG_DSN"):
        pytest.skip("needs a throwaway server of its own")
    with throwaway.ThrowawayPostgres(os.environ.get("AVISO_PG_BACKEND", "auto")) as server:
        admin = psycopg2.connect(server.dsn())
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("CREATE ROLE dueno LOGIN CREATEROLE PASSWORD 'clave-dueno'")
            cur.execute("CREATE DATABASE torniquete_db OWNER dueno")
        admin.close()
        owner_dsn = server.dsn(dbname="torniquete_db", user="dueno", password="clave-dueno")
        for _ in range(2):
            conn = psycopg2.connect(owner_dsn)
            report = setup.apply(conn, schema=True, pos_password="clave-pos", demo_data=True, lang="en")
            conn.close()
        assert report.lines[1:3] == [
            f"trigger: already installed, channel {CHANNEL}, unchanged",
            "role pos_user: already set up (column-level read-only), unchanged",
        ]
        listener = listen(server.dsn(dbname="torniquete_db", user="pos_user", password="clave-pos"))
        entry = insert_entry(owner_dsn, 1)
        assert [p["id_entrada"] for p in payloads(listener, expect=1)] == [entry]
        listener.close()


# -- minimal columns ---------------------------------------------------------------------------------------------------
def test_reduced_schema_with_only_the_required_columns(
    empty_db: str, pg_server: throwaway.ThrowawayPostgres | throwaway.ExternalPostgres, pos_password: str
) -> None:
    dsn = pg_server.dsn(dbname=empty_db)
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        # Other types than the reference schema on purpose (int, varchar, timestamptz without default).
        cur.execute(
            "CREATE TABLE miembros (id_miembro integer PRIMARY KEY, nombre varchar(60), apellido varchar(60));"
            "CREATE TABLE registro_entradas (id_entrada bigserial PRIMARY KEY, id_miembro integer,"
            " tipo_acceso varchar(20) NOT NULL, fecha_hora timestamptz NOT NULL);"
            "INSERT INTO miembros VALUES (7, 'Ñandú', 'Quiñones');"
        )
    conn.commit()
    setup.apply(conn, pos_password=pos_password)  # roles are cluster-wide: keep the session's password
    conn.close()
    listener = listen(dsn)
    entry = insert_entry(dsn, 7, fecha_hora=dt.datetime.now(dt.UTC))
    insert_entry(dsn, None, "visitante", fecha_hora=dt.datetime.now(dt.UTC))
    [body] = payloads(listener, expect=1)
    assert body == {
        "v": 1,
        "id_entrada": entry,
        "id_miembro": 7,
        "fecha_hora": body["fecha_hora"],
        "torniquete": None,
        "resultado": None,
        "miembro": {k: None for k in MEMBER_KEYS} | {"nombre": "Ñandú", "apellido": "Quiñones"},
    }
    pos = psycopg2.connect(pg_server.dsn(dbname=empty_db, user="pos_user", password=pos_password))
    with pos.cursor() as cur:
        cur.execute(f"SELECT {', '.join(names.ENTRY_REQUIRED)} FROM registro_entradas")
        assert len(cur.fetchall()) == 2
        cur.execute(f"SELECT {', '.join(names.MEMBER_REQUIRED)} FROM miembros")
        assert cur.fetchall() == [(7, "Ñandú", "Quiñones")]
    pos.close()
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT table_name, column_name FROM information_schema.column_privileges WHERE grantee = 'pos_user'"
        )
        assert set(cur.fetchall()) == {("registro_entradas", c) for c in names.ENTRY_REQUIRED} | {
            ("miembros", c) for c in names.MEMBER_REQUIRED
        }
    # The install's DO block rewrote the function for the missing columns and kept its lock_timeout (and the
    # search_path pinned to miembros' schema: tests/test_kit_search_path.py).
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT proconfig, prosrc FROM pg_proc WHERE oid = %s::regprocedure", (names.TRIGGER_FUNCTION + "()",)
        )
        proconfig, prosrc = cur.fetchone()
    assert "NULL::text" in prosrc and proconfig == ["lock_timeout=200ms", "search_path=pg_catalog, public, pg_temp"]
    # The trigger adapted to the missing columns is what the kit ships: doctor says so, and the listener works.
    from agent import doctor

    report = doctor.run(doctor.Target(dsn=pg_server.dsn(dbname=empty_db, user="pos_user"), password=pos_password))
    trigger = report.result("trigger")
    assert trigger.status is doctor.Status.OK, trigger
    from tests.engine_helpers import Running

    with Running(pg_server.dsn(dbname=empty_db, user="pos_user", password=pos_password), None) as run:
        assert run.wait_listening()
        later = insert_entry(dsn, 7, fecha_hora=dt.datetime.now(dt.UTC))
        assert run.wait_ids({later})
        member = run.entries[0].entry.member
        assert member is not None and member.full_name == "Ñandú Quiñones" and member.plan is None


def test_setup_without_schema_on_empty_database_changes_nothing(
    empty_db: str, pg_server: throwaway.ThrowawayPostgres | throwaway.ExternalPostgres
) -> None:
    conn = psycopg2.connect(pg_server.dsn(dbname=empty_db))
    with pytest.raises(setup.SetupError, match="--schema"):
        setup.apply(conn, demo_data=True, lang="en")
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
        )
        assert cur.fetchone() == (0,)
        cur.execute("SELECT to_regprocedure(%s)", (names.TRIGGER_FUNCTION + "()",))
        assert cur.fetchone() == (None,)
    conn.close()


def _server_major(bindir: Path) -> int:
    out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=True).stdout
    return int(out.split()[-1].split(".")[0])


def test_queue_guard_against_a_really_full_queue_on_postgresql_17() -> None:
    """PostgreSQL 17+ can shrink the NOTIFY queue (max_notify_queue_pages), so the real thing fits in a test.

    Without the guard a turnstile INSERT fails at COMMIT ("too many notifications in the NOTIFY queue") and the
    entry is lost; with it the INSERT commits and only the notification is skipped. Skipped on 12-16 (CI's 15 and
    16); run it with AVISO_PG_BINDIR pointing at PostgreSQL 17 binaries.
    """
    try:
        bindir = throwaway.find_bindir(os.environ.get("AVISO_PG_BACKEND", "auto"))
    except throwaway.ServerError as exc:
        pytest.skip(str(exc))
    if _server_major(bindir) < 17:
        pytest.skip("max_notify_queue_pages needs PostgreSQL 17")
    with throwaway.ThrowawayPostgres(
        os.environ.get("AVISO_PG_BACKEND", "auto"), settings={"max_notify_queue_pages": "64"}
    ) as server:
        dsn = server.dsn()
        conn = psycopg2.connect(dsn)
        setup.apply(conn, schema=True, demo_data=True)
        conn.autocommit = True
        stuck = listen(dsn, "relleno")
        stuck.autocommit = False
        with stuck.cursor() as cur:
            cur.execute("SELECT 1")  # holds the queue tail
        filler = conn.cursor()

        def usage() -> float:
            filler.execute("SELECT pg_notification_queue_usage()")
            row = filler.fetchone()
            assert row is not None
            return float(row[0])

        n = 0
        while usage() < 0.5:
            n += 1
            filler.execute("SELECT pg_notify('relleno', %s || repeat('x', 7000))", (str(n),))
        # Guard on (default 0.5): the entry commits, nothing is sent, a WARNING says why.
        entry = insert_entry(dsn, 1)
        with psycopg2.connect(dsn) as check, check.cursor() as cur:
            cur.execute("SELECT count(*) FROM registro_entradas WHERE id_entrada = %s", (entry,))
            assert cur.fetchone() == (1,)
        # Fill the rest of the queue, then switch the guard off: the turnstile's COMMIT itself fails.
        with pytest.raises(psycopg2.errors.ProgramLimitExceeded, match="too many notifications"):
            while True:
                n += 1
                filler.execute("SELECT pg_notify('relleno', %s || repeat('x', 7000))", (str(n),))
        unguarded = psycopg2.connect(dsn, options="-c aviso_entradas.max_queue_usage=2")
        with pytest.raises(psycopg2.errors.ProgramLimitExceeded, match="too many notifications"):
            insert_entry(unguarded, 1)
        unguarded.close()
        assert insert_entry(dsn, 1) > entry  # with the guard the turnstile keeps working on a full queue
        stuck.rollback()
        stuck.close()
        conn.close()
