-- Aviso de Entradas: the turnstile trigger (payload version 1). PostgreSQL 12-17.
--
--   psql -U postgres -d torniquete_db -1 -v ON_ERROR_STOP=1 -f sql/setup_postgres_trigger.sql
--   psql -U postgres -d torniquete_db -1 -v ON_ERROR_STOP=1 -v channel=OtroCanal -f sql/setup_postgres_trigger.sql
--
-- or `python -m agent setup-db`, which runs this same file. Idempotent: running it twice changes nothing (the
-- trigger is only (re)created when it is missing, calls another function or names another channel).
-- Tools other than psql (pgAdmin, DBeaver): skip the psql preamble below; the channel is then the default.
--
-- After every INSERT of a row with tipo_acceso = 'miembro' into registro_entradas it sends
-- pg_notify(<channel>, <payload>), default channel nueva_entrada_canal (case-sensitive: LISTEN "MiCanal"). The
-- payload is a JSON object (docs/turnstile-kit.md, "Payload (version 1)"), version 1:
--   {"v": 1, "id_entrada": 123, "id_miembro": 45, "fecha_hora": "2026-11-30T08:01:02.5+00:00",
--    "torniquete": "principal", "resultado": "permitido",
--    "miembro": {"nombre": ..., "apellido": ..., "plan": ..., "fecha_vencimiento": ..., "saldo_pendiente": ...,
--                "fecha_nacimiento": ..., "foto_url": ..., "notas": ...}}
-- Optional columns a real schema lacks come out null. Only display columns go in it, never documento/telefono/
-- email: any role that can connect may LISTEN on any channel. When the full payload would reach 8000 bytes (the
-- limit in the default build, PostgreSQL docs, "NOTIFY": the payload "must be shorter than 8000 bytes"; measured
-- in bytes of the server encoding, as pg_notify does; builds with another block size are handled) or cannot be
-- built, it sends the minimal payload instead,
--   {"v": 1, "id_entrada": ..., "id_miembro": ..., "fecha_hora": ..., "truncated": true}
-- and the agent re-reads the row. (It re-reads every row anyway: a payload is only a hint.)
--
-- The turnstile's INSERT never fails because of this trigger:
--   * every error in the notification path is caught and becomes a WARNING in the server log;
--   * when the notification queue is half full or more (pg_notification_queue_usage(), i.e. a listener is
--     stuck in a transaction), it sends nothing and logs a WARNING: a full queue makes the inserting transaction
--     fail at COMMIT (PostgreSQL docs, "NOTIFY"), which no exception block can catch. Agents pick skipped
--     entries up from the table. The threshold is the setting aviso_entradas.max_queue_usage (default 0.5;
--     e.g. ALTER DATABASE torniquete_db SET aviso_entradas.max_queue_usage = '0.3'; a value that is not a plain
--     decimal number, such as '0,3', counts as 0.5).
--   * the member lookup waits at most 200 ms for a lock on miembros (the function's SET lock_timeout, restored
--     when it returns): while another session holds an ACCESS EXCLUSIVE lock on it (ALTER TABLE, VACUUM FULL,
--     CLUSTER, LOCK TABLE) the INSERT goes on with the minimal payload and a WARNING instead of waiting for
--     that session (and failing under the turnstile's statement_timeout). A foreign key from registro_entradas to
--     miembros waits anyway, in the INSERT itself, before this trigger runs.
-- A rolled-back INSERT notifies nothing (notifications are delivered at commit). The trigger runs with the
-- inserting role's privileges: that role must be able to SELECT the member's display columns (column-level
-- SELECT is enough; never documento/telefono/email), else: minimal payloads + WARNINGs.

-- psql preamble: `-v channel=...` chooses the channel. `agent setup-db` skips these lines and sets the
-- same setting itself. \gset only keeps psql from printing the result.
\if :{?channel}
\else
\set channel nueva_entrada_canal
\endif
SELECT set_config('aviso_entradas.channel', :'channel', false) AS aviso_channel \gset
-- END OF PSQL PREAMBLE

CREATE OR REPLACE FUNCTION aviso_notificar_entrada() RETURNS trigger
LANGUAGE plpgsql
SET lock_timeout = '200ms'
AS $fn$
DECLARE
    canal   text := coalesce(TG_ARGV[0], 'nueva_entrada_canal');
    payload text;
    -- The queue guard's threshold, aviso_entradas.max_queue_usage; unset or not a plain decimal number ('',
    -- '0,3', '-1', 'abc'): 0.5. Checked with a pattern, not a cast, so a typo can never raise (the cast only sees
    -- up to 6 integer and 20 fraction digits and a 2-digit exponent: always in float8's range).
    umbral  text := current_setting('aviso_entradas.max_queue_usage', true);
    limite  float8 := CASE WHEN umbral ~ '^ *([0-9]{1,6}([.][0-9]{0,20})?|[.][0-9]{1,20})([eE][-+]?[0-9]{1,2})? *$'
                           THEN umbral::float8 ELSE 0.5 END;
BEGIN
    -- One exception block (one subtransaction without an XID) on the normal path; every statement is static, so
    -- PL/pgSQL plans it once per session. Optional columns a schema lacks are replaced by NULL at install time
    -- (the DO block below), never looked up per row.
    BEGIN
        SELECT jsonb_build_object(
                   'v', 1, 'id_entrada', NEW.id_entrada, 'id_miembro', NEW.id_miembro, 'fecha_hora', NEW.fecha_hora,
                   'torniquete', NEW.torniquete, 'resultado', NEW.resultado,
                   'miembro', jsonb_build_object(
                       'nombre', m.nombre, 'apellido', m.apellido, 'plan', m.plan,
                       'fecha_vencimiento', m.fecha_vencimiento, 'saldo_pendiente', m.saldo_pendiente,
                       'fecha_nacimiento', m.fecha_nacimiento, 'foto_url', m.foto_url, 'notas', m.notas))::text
          INTO payload
          FROM (SELECT 1) AS una_fila LEFT JOIN miembros AS m ON m.id_miembro = NEW.id_miembro;
        -- pg_notify's limit: NOTIFY_PAYLOAD_MAX_LENGTH = BLCKSZ - NAMEDATALEN - 128 (src/backend/commands/async.c),
        -- 8000 bytes in the default build; computed from this server's block size and identifier length.
        IF octet_length(payload) >= current_setting('block_size')::int
                                    - (current_setting('max_identifier_length')::int + 1) - 128 THEN
            payload := NULL;  -- too long for pg_notify: the minimal payload (an expected case, no warning)
        END IF;
        IF pg_notification_queue_usage() >= limite THEN
            RAISE WARNING 'aviso_entradas: NOTIFY queue % percent full, entry % not notified %',
                round((pg_notification_queue_usage() * 100)::numeric, 4), NEW.id_entrada,
                '(agents read it from the table)';
            RETURN NULL;
        END IF;
        PERFORM pg_notify(canal, coalesce(payload, jsonb_build_object(
            'v', 1, 'id_entrada', NEW.id_entrada, 'id_miembro', NEW.id_miembro,
            'fecha_hora', NEW.fecha_hora, 'truncated', true)::text));
    EXCEPTION WHEN OTHERS THEN
        -- Member lookup denied, a column of an unexpected type...: the minimal payload, still behind the guard.
        RAISE WARNING 'aviso_entradas: full payload for entry % failed (SQLSTATE %: %), sending the minimal one',
            NEW.id_entrada, SQLSTATE, SQLERRM;
        BEGIN
            IF pg_notification_queue_usage() >= limite THEN
                RAISE WARNING 'aviso_entradas: NOTIFY queue % percent full, entry % not notified %',
                    round((pg_notification_queue_usage() * 100)::numeric, 4), NEW.id_entrada,
                    '(agents read it from the table)';
            ELSE
                PERFORM pg_notify(canal, jsonb_build_object(
                    'v', 1, 'id_entrada', NEW.id_entrada, 'id_miembro', NEW.id_miembro,
                    'fecha_hora', NEW.fecha_hora, 'truncated', true)::text);
            END IF;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'aviso_entradas: entry % not notified (SQLSTATE %: %)', NEW.id_entrada, SQLSTATE, SQLERRM;
        END;
    END;
    RETURN NULL;
END
$fn$;

-- A schema without some optional display column: the same function with that column read as NULL (the only
-- change: "NEW.<col>" / "m.<col>" becomes "NULL::text"). Re-run this file after adding or dropping such columns.
DO $columnas$
DECLARE
    fuente text;
    nueva  text;
    col    text;
BEGIN
    SELECT p.prosrc INTO fuente FROM pg_proc AS p WHERE p.oid = 'aviso_notificar_entrada()'::regprocedure;
    nueva := fuente;
    FOREACH col IN ARRAY ARRAY['torniquete', 'resultado'] LOOP
        IF NOT EXISTS (SELECT FROM pg_attribute AS a WHERE a.attrelid = 'registro_entradas'::regclass
                          AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped) THEN
            nueva := replace(nueva, 'NEW.' || col, 'NULL::text');
        END IF;
    END LOOP;
    FOREACH col IN ARRAY ARRAY['plan', 'fecha_vencimiento', 'saldo_pendiente', 'fecha_nacimiento', 'foto_url',
                               'notas'] LOOP
        IF NOT EXISTS (SELECT FROM pg_attribute AS a WHERE a.attrelid = 'miembros'::regclass
                          AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped) THEN
            nueva := replace(nueva, 'm.' || col, 'NULL::text');
        END IF;
    END LOOP;
    IF nueva <> fuente THEN
        EXECUTE format('CREATE OR REPLACE FUNCTION aviso_notificar_entrada() RETURNS trigger LANGUAGE plpgsql '
                       'SET lock_timeout = %L AS %L', '200ms', nueva);
    END IF;
END
$columnas$;

COMMENT ON FUNCTION aviso_notificar_entrada() IS 'aviso-entradas trigger, payload v1';

-- (Re)create the trigger only when it is missing, calls another function or names another channel, so a second
-- run is a no-op and takes no lock on registro_entradas. tgargs holds each argument's bytes in the server
-- encoding followed by a NUL byte.
-- Where rows land: registro_entradas itself and every inheritance child (any depth; found in pg_inherits) gets
-- its own trigger, because a child runs none of its parent's triggers and a BEFORE INSERT trigger on the parent
-- that redirects a row into a child and returns NULL skips the parent's AFTER triggers (PostgreSQL docs,
-- "Overview of Trigger Behavior"). Declarative partitions are left out: a row trigger on a partitioned table is
-- cloned by the server into every partition, existing or attached later (PostgreSQL docs, "CREATE TRIGGER",
-- PostgreSQL 11+). Inheritance children created later get nothing: re-run this file (or setup-db) after adding one.
DO $do$
DECLARE
    canal text := coalesce(nullif(current_setting('aviso_entradas.channel', true), ''), 'nueva_entrada_canal');
    tabla regclass;
    existe boolean;
    igual boolean;
BEGIN
    FOR tabla IN
        WITH RECURSIVE arbol(oid, profundidad) AS (
            SELECT 'registro_entradas'::regclass::oid, 0
          UNION ALL
            SELECT i.inhrelid, a.profundidad + 1
              FROM pg_inherits AS i JOIN arbol AS a ON i.inhparent = a.oid
              JOIN pg_class AS c ON c.oid = i.inhrelid
             WHERE NOT c.relispartition AND a.profundidad < 10
        )
        SELECT a.oid::regclass FROM arbol AS a ORDER BY a.profundidad, a.oid
    LOOP
        existe := NULL;
        igual := NULL;
        SELECT true, t.tgfoid = 'aviso_notificar_entrada()'::regprocedure
                     AND t.tgargs = convert_to(canal, getdatabaseencoding()) || decode('00', 'hex')
          INTO existe, igual
          FROM pg_trigger AS t
         WHERE t.tgrelid = tabla AND t.tgname = 'aviso_nueva_entrada' AND NOT t.tgisinternal;
        CONTINUE WHEN igual;
        IF existe THEN
            EXECUTE format('DROP TRIGGER aviso_nueva_entrada ON %s', tabla);
        END IF;
        EXECUTE format(
            'CREATE TRIGGER aviso_nueva_entrada AFTER INSERT ON %s FOR EACH ROW '
            'WHEN (NEW.tipo_acceso = %L) EXECUTE FUNCTION aviso_notificar_entrada(%L)', tabla, 'miembro', canal);
    END LOOP;
END
$do$;
