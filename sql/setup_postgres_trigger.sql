-- Aviso de Entradas: the turnstile trigger (payload version 1). PostgreSQL 12-17.
--
--   psql -U postgres -d torniquete_db -f sql/setup_postgres_trigger.sql
--   psql -U postgres -d torniquete_db -v channel=OtroCanal -f sql/setup_postgres_trigger.sql
--
-- or `python -m agent setup-db`, which runs this same file. Idempotent: running it twice changes nothing.
--
-- After every INSERT of a row with tipo_acceso = 'miembro' into registro_entradas it sends
-- pg_notify(<channel>, <payload>), default channel nueva_entrada_canal. The payload is a JSON object
-- (README.md, "Payload"):
--   {"v": 1, "id_entrada": 123, "id_miembro": 45, "fecha_hora": "2026-11-30T08:01:02.5+00:00",
--    "torniquete": "principal", "resultado": "permitido",
--    "miembro": {"nombre": ..., "apellido": ..., "plan": ..., "fecha_vencimiento": ..., "saldo_pendiente": ...,
--                "fecha_nacimiento": ..., "foto_url": ..., "notas": ...}}
-- Only display columns go in it, never documento/telefono/email: any role that can connect may LISTEN on any
-- channel. When the full payload would reach 8000 bytes (the limit in the default build, PostgreSQL docs,
-- "NOTIFY": the payload "must be shorter than 8000 bytes") it sends the minimal payload instead,
--   {"v": 1, "id_entrada": ..., "id_miembro": ..., "fecha_hora": ..., "truncated": true}
-- and the agent re-reads the row.
--
-- The turnstile's INSERT never fails because of this trigger:
--   * every error in the notification path is caught and becomes a WARNING in the server log;
--   * when the notification queue is half full or more (pg_notification_queue_usage(), a listener is stuck),
--     it sends nothing: a full queue makes the inserting transaction fail at COMMIT (PostgreSQL docs,
--     "NOTIFY"), which no exception block can catch. Agents pick skipped entries up from the table.
-- A rolled-back INSERT notifies nothing (notifications are delivered at commit).

-- psql preamble: `-v channel=...` chooses the channel. `agent setup-db` skips these lines and sets the
-- same setting itself.
\if :{?channel}
\else
\set channel nueva_entrada_canal
\endif
SELECT set_config('aviso_entradas.channel', :'channel', false);
-- END OF PSQL PREAMBLE

CREATE OR REPLACE FUNCTION aviso_notificar_entrada() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
DECLARE
    canal   text := coalesce(TG_ARGV[0], 'nueva_entrada_canal');
    fila    jsonb;
    miembro jsonb;
    base    jsonb;
    payload text;
BEGIN
    BEGIN
        IF pg_notification_queue_usage() >= 0.5 THEN
            RAISE WARNING 'aviso_entradas: NOTIFY queue % percent full, entry % not notified (agents read it from the table)',
                round(pg_notification_queue_usage() * 100), NEW.id_entrada;
            RETURN NULL;
        END IF;
        -- to_jsonb() of the whole row, so that optional columns a real schema lacks simply come out null.
        fila := to_jsonb(NEW);
        base := jsonb_build_object(
            'v', 1,
            'id_entrada', fila -> 'id_entrada',
            'id_miembro', fila -> 'id_miembro',
            'fecha_hora', fila -> 'fecha_hora',
            'torniquete', fila -> 'torniquete',
            'resultado', fila -> 'resultado');
        SELECT to_jsonb(m) INTO miembro FROM miembros AS m WHERE m.id_miembro = NEW.id_miembro;
        payload := (base || jsonb_build_object('miembro', jsonb_build_object(
            'nombre', miembro -> 'nombre',
            'apellido', miembro -> 'apellido',
            'plan', miembro -> 'plan',
            'fecha_vencimiento', miembro -> 'fecha_vencimiento',
            'saldo_pendiente', miembro -> 'saldo_pendiente',
            'fecha_nacimiento', miembro -> 'fecha_nacimiento',
            'foto_url', miembro -> 'foto_url',
            'notas', miembro -> 'notas')))::text;
        IF octet_length(payload) >= 8000 THEN
            payload := (base || '{"truncated": true}'::jsonb)::text;
        END IF;
        PERFORM pg_notify(canal, payload);
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'aviso_entradas: full payload for entry % failed (SQLSTATE %: %), sending the minimal one',
            NEW.id_entrada, SQLSTATE, SQLERRM;
        BEGIN
            PERFORM pg_notify(canal, json_build_object(
                'v', 1, 'id_entrada', NEW.id_entrada, 'id_miembro', NEW.id_miembro,
                'fecha_hora', NEW.fecha_hora, 'truncated', true)::text);
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'aviso_entradas: entry % not notified (SQLSTATE %: %)', NEW.id_entrada, SQLSTATE, SQLERRM;
        END;
    END;
    RETURN NULL;
END
$fn$;

COMMENT ON FUNCTION aviso_notificar_entrada() IS 'aviso-entradas trigger, payload v1';

-- (Re)create the trigger only when it is missing or names another channel, so a second run is a no-op and
-- takes no lock on registro_entradas.
DO $do$
DECLARE
    canal text := current_setting('aviso_entradas.channel');
    actual text;
BEGIN
    SELECT encode(t.tgargs, 'escape') INTO actual
      FROM pg_trigger AS t
     WHERE t.tgrelid = 'registro_entradas'::regclass AND t.tgname = 'aviso_nueva_entrada' AND NOT t.tgisinternal;
    IF actual IS NOT DISTINCT FROM canal || '\000' THEN
        RETURN;
    END IF;
    IF actual IS NOT NULL THEN
        EXECUTE 'DROP TRIGGER aviso_nueva_entrada ON registro_entradas';
    END IF;
    EXECUTE format(
        'CREATE TRIGGER aviso_nueva_entrada AFTER INSERT ON registro_entradas FOR EACH ROW '
        'WHEN (NEW.tipo_acceso = %L) EXECUTE FUNCTION aviso_notificar_entrada(%L)', 'miembro', canal);
END
$do$;
