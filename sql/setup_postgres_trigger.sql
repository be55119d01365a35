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
--   * every error that can happen while building the notification (the member lookup, the payload) is caught and
--     becomes a WARNING in the server log; pg_notify itself runs outside any exception block (one there kept 8 kB
--     per member row until the end of the inserting transaction: a bulk import ran the server out of memory)
--     and only with a channel and a payload whose length were checked first, the errors it can raise;
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

-- Every built-in function is called as pg_catalog.<name>, comparisons of the turnstile's own columns (whose type
-- may be varchar, for which pg_catalog has no exact "=") use OPERATOR(pg_catalog.=), here and in the trigger's WHEN
-- (resolved once, at CREATE TRIGGER), and the function's search_path is pinned below to
-- pg_catalog, the schema of miembros, pg_temp: the trigger runs inside the turnstile's INSERT with the inserting
-- role's privileges (often the tables' owner or a superuser), so an object someone planted in a schema on the
-- inserting session's search_path (e.g. public.jsonb_build_object(text, text, ...), which a better-matching
-- argument list makes win over pg_catalog's VARIADIC "any" one; up to PostgreSQL 14 every role, pos_user included,
-- may CREATE in public) would run as that role. PostgreSQL docs, "CREATE FUNCTION", *Writing SECURITY DEFINER
-- Functions Safely*, and "Schemas", *Usage Patterns*.
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
    umbral  text := pg_catalog.current_setting('aviso_entradas.max_queue_usage', true);
    limite  float8 := CASE WHEN umbral ~ '^ *([0-9]{1,6}([.][0-9]{0,20})?|[.][0-9]{1,20})([eE][-+]?[0-9]{1,2})? *$'
                           THEN umbral::float8 ELSE 0.5 END;
BEGIN
    -- One exception block (one subtransaction without an XID) on the normal path, around what can fail (the member
    -- lookup, building the payload); every statement is static, so PL/pgSQL plans it once per session. Optional
    -- columns a schema lacks are replaced by NULL at install time (the DO block below), never looked up per row.
    BEGIN
        SELECT pg_catalog.jsonb_build_object(
                   'v', 1, 'id_entrada', NEW.id_entrada, 'id_miembro', NEW.id_miembro, 'fecha_hora', NEW.fecha_hora,
                   'torniquete', NEW.torniquete, 'resultado', NEW.resultado,
                   'miembro', pg_catalog.jsonb_build_object(
                       'nombre', m.nombre, 'apellido', m.apellido, 'plan', m.plan,
                       'fecha_vencimiento', m.fecha_vencimiento, 'saldo_pendiente', m.saldo_pendiente,
                       'fecha_nacimiento', m.fecha_nacimiento, 'foto_url', m.foto_url, 'notas', m.notas))::text
          INTO payload
          FROM (SELECT 1) AS una_fila LEFT JOIN miembros AS m ON m.id_miembro OPERATOR(pg_catalog.=) NEW.id_miembro;
        -- pg_notify's limit: NOTIFY_PAYLOAD_MAX_LENGTH = BLCKSZ - NAMEDATALEN - 128 (src/backend/commands/async.c),
        -- 8000 bytes in the default build; computed from this server's block size and identifier length.
        IF pg_catalog.octet_length(payload) >= pg_catalog.current_setting('block_size')::int
                - (pg_catalog.current_setting('max_identifier_length')::int + 1) - 128 THEN
            payload := NULL;  -- too long for pg_notify: the minimal payload (an expected case, no warning)
        END IF;
        payload := coalesce(payload, pg_catalog.jsonb_build_object(
            'v', 1, 'id_entrada', NEW.id_entrada, 'id_miembro', NEW.id_miembro,
            'fecha_hora', NEW.fecha_hora, 'truncated', true)::text);
    EXCEPTION WHEN OTHERS THEN
        -- Member lookup denied, a column of an unexpected type...: the minimal payload.
        RAISE WARNING 'aviso_entradas: full payload for entry % failed (SQLSTATE %: %), sending the minimal one',
            NEW.id_entrada, SQLSTATE, SQLERRM;
        BEGIN
            payload := pg_catalog.jsonb_build_object(
                'v', 1, 'id_entrada', NEW.id_entrada, 'id_miembro', NEW.id_miembro,
                'fecha_hora', NEW.fecha_hora, 'truncated', true)::text;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'aviso_entradas: entry % not notified (SQLSTATE %: %)', NEW.id_entrada, SQLSTATE, SQLERRM;
            RETURN NULL;
        END;
    END;
    -- pg_notify runs outside any exception block. Inside one, each notification kept its subtransaction's memory
    -- context (8 kB at least) until the end of the inserting transaction: 100,000 member rows inserted in one
    -- transaction held 782 MB in the turnstile's backend (measured, pg_backend_memory_contexts; a bulk import of
    -- a million would exhaust a mini PC's memory). Out here it cannot fail: the channel is checked just below and
    -- the payload's length above; the queue guard comes first.
    IF pg_catalog.pg_notification_queue_usage() >= limite THEN
        RAISE WARNING 'aviso_entradas: NOTIFY queue % percent full, entry % not notified %',
            pg_catalog.round((pg_catalog.pg_notification_queue_usage() * 100)::numeric, 4), NEW.id_entrada,
            '(agents read it from the table)';
        RETURN NULL;
    END IF;
    IF canal = '' OR pg_catalog.octet_length(canal) > pg_catalog.current_setting('max_identifier_length')::int THEN
        RAISE WARNING 'aviso_entradas: entry % not notified (channel name empty or too long: %)', NEW.id_entrada,
            canal;
        RETURN NULL;
    END IF;
    PERFORM pg_catalog.pg_notify(canal, payload);
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
    esquema text;
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
    -- miembros as the installer sees it (the same table, whatever the inserting session's search_path).
    SELECT n.nspname INTO esquema FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
     WHERE c.oid = 'miembros'::regclass;
    EXECUTE format('ALTER FUNCTION aviso_notificar_entrada() SET search_path = pg_catalog, %I, pg_temp', esquema);
END
$columnas$;

COMMENT ON FUNCTION aviso_notificar_entrada() IS 'aviso-entradas trigger, payload v1';

-- (Re)create the trigger only when it is missing, disabled, calls another function, names another channel or
-- compares with an operator from outside pg_catalog, so a
-- second run is a no-op and takes no lock on registro_entradas. tgargs holds each argument's bytes in the server
-- encoding followed by a NUL byte.
-- Where rows land: registro_entradas itself and every inheritance child (any depth; found in pg_inherits) gets
-- its own trigger, because a child runs none of its parent's triggers and a BEFORE INSERT trigger on the parent
-- that redirects a row into a child and returns NULL skips the parent's AFTER triggers (PostgreSQL docs,
-- "Overview of Trigger Behavior"). Declarative partitions are left out: a row trigger on a partitioned table is
-- cloned by the server into every partition, existing or attached later (PostgreSQL docs, "CREATE TRIGGER",
-- PostgreSQL 11+); a clone someone disabled on one partition is enabled again. Inheritance children created
-- later get nothing: re-run this file (or setup-db) after adding one. A trigger found disabled (ALTER TABLE ...
-- DISABLE TRIGGER, also DISABLE TRIGGER USER/ALL, or ENABLE REPLICA) is enabled again.
-- The turnstile's INSERTs never queue behind this install: CREATE/ENABLE TRIGGER need a SHARE ROW EXCLUSIVE lock
-- and DROP TRIGGER an ACCESS EXCLUSIVE one, which conflict with the INSERTs' ROW EXCLUSIVE lock, and a lock request
-- that waits (behind a long transaction of the turnstile's program, a VACUUM, an index build) makes every later
-- INSERT wait behind it (PostgreSQL docs, "Explicit Locking"). So every lock needed is taken first, in one LOCK
-- statement, with lock_timeout = 100ms; when that fails the attempt is rolled back (nothing held) and retried
-- after 400 ms, up to 50 times (about 25 s); then this block fails with SQLSTATE 55P03 (lock_not_available) and
-- nothing is changed: run it again when the turnstile is quieter.
DO $do$
DECLARE
    canal    text := coalesce(nullif(current_setting('aviso_entradas.channel', true), ''), 'nueva_entrada_canal');
    fila     record;
    crear    regclass[] := '{}';   -- no trigger of ours yet
    cambiar  regclass[] := '{}';   -- ours, but another function or channel: drop and create
    activar  regclass[] := '{}';   -- ours, disabled: enable
    bloqueo  text[] := '{}';
    intento  int := 0;
    anterior text := current_setting('lock_timeout');
    tabla    regclass;
BEGIN
    FOR fila IN
        WITH RECURSIVE arbol(oid, profundidad) AS (
            SELECT 'registro_entradas'::regclass::oid, 0
          UNION ALL
            SELECT i.inhrelid, a.profundidad + 1
              FROM pg_inherits AS i JOIN arbol AS a ON i.inhparent = a.oid
             WHERE a.profundidad < 10
        )
        SELECT a.oid::regclass AS tabla, c.relispartition AS particion, c.relkind AS tipo,
               t.oid IS NOT NULL AS existe, t.tgenabled IN ('O', 'A') AS activo,
               t.tgfoid = 'aviso_notificar_entrada()'::regprocedure
                   AND t.tgargs = convert_to(canal, getdatabaseencoding()) || decode('00', 'hex')
                   -- and its WHEN uses no operator from outside pg_catalog (one planted before an older install)
                   AND NOT EXISTS (SELECT FROM regexp_matches(coalesce(t.tgqual::text, ''), ':opno (\d+)', 'g') AS op(m)
                                     JOIN pg_operator AS o ON o.oid = op.m[1]::oid
                                    WHERE o.oprnamespace <> 'pg_catalog'::regnamespace) AS igual
          FROM arbol AS a JOIN pg_class AS c ON c.oid = a.oid
          LEFT JOIN pg_trigger AS t
                 ON t.tgrelid = a.oid AND t.tgname = 'aviso_nueva_entrada' AND (c.relispartition OR NOT t.tgisinternal)
         ORDER BY a.profundidad, a.oid
    LOOP
        IF fila.particion THEN  -- a declarative partition: the server clones the parent's; only re-enable it
            IF fila.existe AND fila.igual AND NOT fila.activo THEN
                activar := activar || fila.tabla;
                bloqueo := bloqueo || format('ONLY %s', fila.tabla);
            END IF;
            CONTINUE;
        END IF;
        IF NOT fila.existe THEN
            crear := crear || fila.tabla;
        ELSIF NOT fila.igual THEN
            cambiar := cambiar || fila.tabla;
        ELSIF NOT fila.activo THEN
            activar := activar || fila.tabla;
        ELSE
            CONTINUE;
        END IF;
        -- A partitioned table's trigger is created on its partitions too: lock them with it (no ONLY).
        bloqueo := bloqueo || format(CASE WHEN fila.tipo = 'p' THEN '%s' ELSE 'ONLY %s' END, fila.tabla);
    END LOOP;
    IF cardinality(bloqueo) = 0 THEN
        RETURN;
    END IF;
    LOOP
        BEGIN
            PERFORM set_config('lock_timeout', '100ms', true);
            EXECUTE format('LOCK TABLE %s IN %s MODE', array_to_string(bloqueo, ', '),
                           CASE WHEN cardinality(cambiar) > 0 THEN 'ACCESS EXCLUSIVE' ELSE 'SHARE ROW EXCLUSIVE' END);
            EXIT;
        EXCEPTION WHEN lock_not_available THEN
            intento := intento + 1;
            IF intento >= 50 THEN
                RAISE EXCEPTION 'aviso_entradas: registro_entradas stayed locked by other sessions for about 25 s '
                                '(a long transaction, VACUUM or index build); the trigger was not installed'
                      USING ERRCODE = 'lock_not_available',
                            HINT = 'Nothing was changed. Run it again when the turnstile is quieter '
                                   '(pg_stat_activity shows who holds the lock).';
            END IF;
            PERFORM pg_sleep(0.4);
        END;
    END LOOP;
    PERFORM set_config('lock_timeout', anterior, true);
    FOREACH tabla IN ARRAY cambiar LOOP
        EXECUTE format('DROP TRIGGER aviso_nueva_entrada ON %s', tabla);
    END LOOP;
    FOREACH tabla IN ARRAY crear || cambiar LOOP
        EXECUTE format(
            'CREATE TRIGGER aviso_nueva_entrada AFTER INSERT ON %s FOR EACH ROW '
            'WHEN (NEW.tipo_acceso OPERATOR(pg_catalog.=) %L) EXECUTE FUNCTION aviso_notificar_entrada(%L)',
            tabla, 'miembro', canal);
    END LOOP;
    FOREACH tabla IN ARRAY activar LOOP
        EXECUTE format('ALTER TABLE ONLY %s ENABLE TRIGGER aviso_nueva_entrada', tabla);
    END LOOP;
END
$do$;
