-- Aviso de Entradas: the least-privilege role `pos_user` that the agent on each POS PC logs in as.
--
--   psql -U postgres -d torniquete_db -f sql/create_pos_user.sql
--   psql -U postgres -d torniquete_db -c '\password pos_user'      -- the password is never in this file
--
-- or `python -m agent setup-db --pos-password-stdin`, which runs this file and sets a SCRAM verifier computed on
-- the client, so the clear-text password reaches neither argv, the server log nor ours.
--
-- What it grants, nothing else (idempotent; re-running it also takes back anything granted by hand before):
--   LOGIN; CONNECT on this database; USAGE on the schemas of registro_entradas, miembros and the trigger function;
--   when the tables are not in public: search_path (ALTER ROLE pos_user IN DATABASE ... SET) naming their schemas;
--   SELECT on exactly the columns the agent reads (column-level grants), only those that exist:
--     registro_entradas: id_entrada, id_miembro, tipo_acceso, fecha_hora, torniquete, resultado
--     miembros:          id_miembro, nombre, apellido, plan, fecha_vencimiento, saldo_pendiente,
--                        fecha_nacimiento, foto_url, notas
-- Never documento, telefono, email, nor INSERT/UPDATE/DELETE. LISTEN needs no grant.
--
-- pg_hba.conf on the turnstile (TLS and SCRAM, not md5; from the front-desk LAN only):
--   hostssl  torniquete_db  pos_user  192.168.1.0/24  scram-sha-256
-- postgresql.conf:  listen_addresses = '*'   (or the turnstile PC's LAN address)
--                   password_encryption = scram-sha-256   (the default since PostgreSQL 14)
--                   ssl = on

DO $do$
DECLARE
    esquema text;
    esquemas text[] := '{}';
    col text;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pos_user') THEN
        CREATE ROLE pos_user LOGIN;
    END IF;
    -- Only when something differs: changing SUPERUSER/REPLICATION/BYPASSRLS needs a superuser, so a table owner
    -- with CREATEROLE can still run this file on a role it created itself.
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'pos_user'
                  AND (NOT rolcanlogin OR rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls))
    THEN
        ALTER ROLE pos_user LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO pos_user', current_database());

    -- The schemas of the two tables and of the trigger function: USAGE on each, and when any is not public (a
    -- vendor's own schema), pos_user's search_path in this database names them, because the agent and doctor
    -- name the tables and the function unqualified (a role's search_path skips schemas it has no USAGE on).
    FOR esquema IN
        SELECT n.nspname
          FROM (VALUES (1, (SELECT c.relnamespace FROM pg_class AS c WHERE c.oid = 'registro_entradas'::regclass)),
                       (2, (SELECT c.relnamespace FROM pg_class AS c WHERE c.oid = 'miembros'::regclass)),
                       (3, (SELECT p.pronamespace FROM pg_proc AS p
                             WHERE p.oid = to_regprocedure('aviso_notificar_entrada()')))) AS o(orden, espacio)
          JOIN pg_namespace AS n ON n.oid = o.espacio
         ORDER BY o.orden
    LOOP
        IF NOT esquema = ANY (esquemas) THEN
            EXECUTE format('GRANT USAGE ON SCHEMA %I TO pos_user', esquema);
            esquemas := esquemas || esquema;
        END IF;
    END LOOP;
    IF esquemas <> ARRAY['public'] THEN
        EXECUTE format('ALTER ROLE pos_user IN DATABASE %I SET search_path = %s', current_database(),
                       (SELECT string_agg(format('%I', e), ', ') FROM unnest(esquemas) AS e));
    END IF;

    -- Start from nothing on both tables, then grant the listed columns that exist.
    EXECUTE 'REVOKE ALL ON registro_entradas, miembros FROM pos_user';
    FOR col IN
        SELECT a.attname FROM pg_attribute AS a
         WHERE a.attrelid = 'registro_entradas'::regclass AND a.attnum > 0 AND NOT a.attisdropped
           AND a.attname IN ('id_entrada', 'id_miembro', 'tipo_acceso', 'fecha_hora', 'torniquete', 'resultado')
    LOOP
        EXECUTE format('GRANT SELECT (%I) ON registro_entradas TO pos_user', col);
    END LOOP;
    FOR col IN
        SELECT a.attname FROM pg_attribute AS a
         WHERE a.attrelid = 'miembros'::regclass AND a.attnum > 0 AND NOT a.attisdropped
           AND a.attname IN ('id_miembro', 'nombre', 'apellido', 'plan', 'fecha_vencimiento', 'saldo_pendiente',
                             'fecha_nacimiento', 'foto_url', 'notas')
    LOOP
        EXECUTE format('GRANT SELECT (%I) ON miembros TO pos_user', col);
    END LOOP;
END
$do$;
