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

-- The agent's catch-up and sweep read recent member entries by time; this index keeps that a range scan.
CREATE INDEX IF NOT EXISTS registro_entradas_fecha_hora_idx ON registro_entradas (fecha_hora);
-- The agent's re-read of a member's previous entry (repeat-entry / first-visit alerts). `setup-db` creates both
-- indexes, with these names, on a turnstile schema that lacks them (CREATE INDEX CONCURRENTLY, no lock on writes).
CREATE INDEX IF NOT EXISTS registro_entradas_miembro_fecha_idx ON registro_entradas (id_miembro, fecha_hora);
