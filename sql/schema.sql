-- Aviso de Entradas: reference turnstile schema (demo and tests).
--
-- A real turnstile already has its own schema; nothing here is required as is. What the trigger and the agent
-- rely on is the short list of columns in docs/turnstile-kit.md ("Minimal columns"):
--   registro_entradas(id_entrada, id_miembro, tipo_acceso, fecha_hora)
--   miembros(id_miembro, nombre, apellido)
-- Every other display column below is used when present and readable, and ignored otherwise.
--
-- Idempotent: running it twice changes nothing.

CREATE TABLE IF NOT EXISTS miembros (
    id_miembro        bigserial PRIMARY KEY,
    nombre            text          NOT NULL,
    apellido          text          NOT NULL,
    plan              text,
    fecha_inicio      date,
    fecha_vencimiento date,
    foto_url          text,
    saldo_pendiente   numeric(10, 2) NOT NULL DEFAULT 0,
    fecha_nacimiento  date,
    notas             text,
    -- Sensitive columns: never in a notification payload, never granted to pos_user.
    documento         text,
    telefono          text,
    email             text
);

CREATE TABLE IF NOT EXISTS registro_entradas (
    id_entrada  bigserial   PRIMARY KEY,
    id_miembro  bigint      REFERENCES miembros (id_miembro),
    tipo_acceso text        NOT NULL CHECK (tipo_acceso IN ('miembro', 'visitante', 'empleado')),
    fecha_hora  timestamptz NOT NULL DEFAULT now(),
    torniquete  text        NOT NULL DEFAULT 'principal',
    resultado   text        NOT NULL DEFAULT 'permitido' CHECK (resultado IN ('permitido', 'denegado'))
);

-- The agent's catch-up and sweep read recent member entries by time (registro_entradas_fecha_hora_idx on
-- (fecha_hora)); its re-read of a member's previous entry (repeat-entry / first-visit alerts) uses
-- registro_entradas_miembro_fecha_idx on (id_miembro, fecha_hora). Built here only on an empty table (a new
-- install), and only if its lock comes within 100 ms: a plain CREATE INDEX takes a SHARE lock that stops every
-- INSERT for the whole build, and even `IF NOT EXISTS` waits for that lock first (PostgreSQL docs, "CREATE INDEX",
-- "Explicit Locking"). On a turnstile's table already in use, `setup-db` builds them afterwards with CREATE INDEX
-- CONCURRENTLY, which lets INSERTs go on; psql users run those two statements by hand (docs/turnstile-kit.md).
DO $indices$
DECLARE
    anterior text := current_setting('lock_timeout');
BEGIN
    IF EXISTS (SELECT FROM registro_entradas) THEN
        RETURN;
    END IF;
    BEGIN
        PERFORM set_config('lock_timeout', '100ms', true);
        IF to_regclass('registro_entradas_fecha_hora_idx') IS NULL THEN
            CREATE INDEX registro_entradas_fecha_hora_idx ON registro_entradas (fecha_hora);
        END IF;
        IF to_regclass('registro_entradas_miembro_fecha_idx') IS NULL THEN
            CREATE INDEX registro_entradas_miembro_fecha_idx ON registro_entradas (id_miembro, fecha_hora);
        END IF;
    EXCEPTION WHEN lock_not_available THEN
        RAISE NOTICE 'registro_entradas is busy: its indexes are left to CREATE INDEX CONCURRENTLY (setup-db)';
    END;
    PERFORM set_config('lock_timeout', anterior, true);
END
$indices$;
