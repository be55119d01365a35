"""The trigger cannot be made to run someone else's code (adversarial review of issue 12, on a real server).

Our trigger runs inside the turnstile's INSERT with the inserting role's privileges (often the tables' owner or a
superuser). Up to PostgreSQL 14 every role may CREATE in schema ``public`` (PostgreSQL docs, "Schemas", *Usage
Patterns*), ``pos_user`` included, whose password sits on every front-desk PC. A function planted there with a
better-matching argument list than ``pg_catalog.jsonb_build_object(VARIADIC "any")`` was called by our trigger
instead of the built-in: measured, it ran ``ALTER ROLE pos_user SUPERUSER`` as the inserting superuser. Here the
planted function only records who ran it, so a failure cannot spoil the cluster-wide ``pos_user`` of other tests.
"""

from __future__ import annotations

import json

import psycopg2

from agent.core import names
from agent.db import setup
from tests.conftest import Database
from tests.test_sql_kit import (
    drain,
    insert_entry,
    listen,
    member_id,
    pos_user_left_as_found,  # noqa: F401  (autouse fixture)
)

PLANTED = """
CREATE TABLE public.planted_log (who text);
GRANT INSERT ON public.planted_log TO PUBLIC;
CREATE FUNCTION public.jsonb_build_object(text, text, text, text, text, text, text, date, text, numeric, text, date,
                                          text, text, text, text) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.planted_log VALUES (current_user);
    RETURN '{}';
END $$;
"""


def test_a_function_planted_in_public_by_pos_user_never_runs_in_the_turnstiles_insert(db: Database) -> None:
    member = member_id(db, "current")
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")  # the default up to PostgreSQL 14
    conn = psycopg2.connect(db.admin_dsn())
    setup.apply(conn, lang="en", indexes=False)  # the kit as shipped (re-installed over the template's)
    conn.close()
    pos = psycopg2.connect(db.pos_dsn())
    with pos, pos.cursor() as cur:
        cur.execute(PLANTED)
    pos.close()

    listener = listen(db.admin_dsn())
    entry = insert_entry(db.admin_dsn(), member)  # the turnstile, as a superuser
    got = drain(listener, expect=1)
    listener.close()
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("SELECT who FROM public.planted_log")
        ran_as = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT proconfig FROM pg_proc WHERE oid = %s::regprocedure", (names.TRIGGER_FUNCTION + "()",))
        config = cur.fetchone()[0]
    assert ran_as == []
    payload = json.loads(got[0][1])
    assert payload["id_entrada"] == entry and payload["miembro"]["nombre"]  # the real, full payload
    assert config == ["lock_timeout=200ms", "search_path=pg_catalog, public, pg_temp"]


def test_the_member_lookup_ignores_a_look_alike_on_the_inserting_sessions_search_path(db: Database) -> None:
    """A session whose search_path puts another schema first (a ``miembros`` view there) still gets the member
    from the table the kit was installed against, and runs nothing of that view's."""
    member = member_id(db, "current")
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("CREATE SCHEMA otro")
        cur.execute(
            "CREATE VIEW otro.miembros AS SELECT id_miembro, 'FALSO'::text AS nombre, apellido, plan,"
            " fecha_vencimiento, saldo_pendiente, fecha_nacimiento, foto_url, notas FROM public.miembros"
        )
    listener = listen(db.admin_dsn())
    turnstile = psycopg2.connect(db.admin_dsn(), options="-c search_path=otro,public")
    insert_entry(turnstile, member)
    turnstile.close()
    payload = json.loads(drain(listener, expect=1)[0][1])
    listener.close()
    assert payload["miembro"]["nombre"] != "FALSO"


TRAP_OPERATOR = """
CREATE TABLE public.planted_log (who text);
GRANT INSERT ON public.planted_log TO PUBLIC;
CREATE FUNCTION public.eq_trap(varchar, varchar) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.planted_log VALUES (current_user);
    RETURN $1::text OPERATOR(pg_catalog.=) $2::text;
END $$;
CREATE OPERATOR public.= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.eq_trap);
"""


def test_an_operator_planted_for_a_varchar_column_never_runs_in_the_turnstiles_insert(db: Database) -> None:
    """Vendors often type tipo_acceso as varchar, for which pg_catalog has no exact ``=``: an ``=(varchar,
    varchar)`` planted in public was an exact match, chosen for the trigger's ``WHEN (NEW.tipo_acceso =
    'miembro')`` when setup-db created it, and then ran in every INSERT as the inserting role."""
    member = member_id(db, "current")
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("DROP TRIGGER aviso_nueva_entrada ON registro_entradas")
        cur.execute("ALTER TABLE registro_entradas ALTER COLUMN tipo_acceso TYPE varchar(20)")
        cur.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")  # the default up to PostgreSQL 14
    pos = psycopg2.connect(db.pos_dsn())
    with pos, pos.cursor() as cur:
        cur.execute(TRAP_OPERATOR)
    pos.close()
    conn = psycopg2.connect(db.admin_dsn())
    setup.apply(conn, lang="en", indexes=False)
    conn.close()

    listener = listen(db.admin_dsn())
    entry = insert_entry(db.admin_dsn(), member)
    got = drain(listener, expect=1)
    listener.close()
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("SELECT who FROM public.planted_log")
        assert [r[0] for r in cur.fetchall()] == []
    assert json.loads(got[0][1])["id_entrada"] == entry


def test_setup_db_replaces_an_older_trigger_whose_when_uses_a_planted_operator(db: Database) -> None:
    """A trigger created before the fix (plain ``=`` in its WHEN) after the operator was planted keeps calling it;
    setup-db re-runs now replace it (and leave a clean one alone: see test_sql_kit's no-op re-run)."""
    member = member_id(db, "current")
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("DROP TRIGGER aviso_nueva_entrada ON registro_entradas")
        cur.execute("ALTER TABLE registro_entradas ALTER COLUMN tipo_acceso TYPE varchar(20)")
        cur.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
    pos = psycopg2.connect(db.pos_dsn())
    with pos, pos.cursor() as cur:
        cur.execute(TRAP_OPERATOR)
    pos.close()
    with db.connect_admin() as conn, conn.cursor() as cur:  # the old install's statement
        cur.execute(
            "CREATE TRIGGER aviso_nueva_entrada AFTER INSERT ON registro_entradas FOR EACH ROW"
            " WHEN (NEW.tipo_acceso = 'miembro') EXECUTE FUNCTION aviso_notificar_entrada('nueva_entrada_canal')"
        )
    conn = psycopg2.connect(db.admin_dsn())
    report = setup.apply(conn, lang="en", indexes=False)
    conn.close()
    assert "trigger: updated, channel nueva_entrada_canal" in report.lines
    insert_entry(db.admin_dsn(), member)
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("SELECT who FROM public.planted_log")
        assert [r[0] for r in cur.fetchall()] == []
