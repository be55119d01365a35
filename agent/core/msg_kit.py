"""User-facing text of the database kit (setup-db, simulate) and generic errors. See :mod:`agent.core.i18n`."""

MESSAGES: dict[str, dict[str, str]] = {
    # setup-db
    "setup.schema_created": {"es": "esquema: tablas {tables} creadas", "en": "schema: created tables {tables}"},
    "setup.schema_present": {
        "es": "esquema: las tablas ya existían, sin cambios",
        "en": "schema: tables already present, unchanged",
    },
    "setup.trigger_created": {
        "es": "trigger: creado en registro_entradas, canal {channel}",
        "en": "trigger: created on registro_entradas, channel {channel}",
    },
    "setup.trigger_updated": {
        "es": "trigger: actualizado, canal {channel}",
        "en": "trigger: updated, channel {channel}",
    },
    "setup.trigger_unchanged": {
        "es": "trigger: ya instalado, canal {channel}, sin cambios",
        "en": "trigger: already installed, channel {channel}, unchanged",
    },
    "setup.role_created": {
        "es": "rol pos_user: creado con permisos de solo lectura por columna",
        "en": "role pos_user: created with column-level read-only grants",
    },
    "setup.role_refreshed": {
        "es": "rol pos_user: permisos revisados (solo lectura por columna)",
        "en": "role pos_user: grants refreshed (column-level read-only)",
    },
    "setup.role_unchanged": {
        "es": "rol pos_user: ya configurado (solo lectura por columna), sin cambios",
        "en": "role pos_user: already set up (column-level read-only), unchanged",
    },
    "setup.password_set": {
        "es": "rol pos_user: contraseña establecida (verificador SCRAM)",
        "en": "role pos_user: password set (SCRAM verifier)",
    },
    "setup.demo_loaded": {
        "es": "datos de demostración: {count} miembros cargados",
        "en": "demo data: {count} members loaded",
    },
    "setup.demo_present": {
        "es": "datos de demostración: ya cargados, sin cambios",
        "en": "demo data: already loaded, unchanged",
    },
    "setup.no_tables": {
        "es": "no existe la tabla {table}: use --schema para crear el esquema de referencia",
        "en": "table {table} does not exist: use --schema to create the reference schema",
    },
    "setup.bad_channel": {
        "es": "canal no válido {channel!r}: de 1 a 63 bytes, sin el carácter NUL (identificador de PostgreSQL)",
        "en": "invalid channel {channel!r}: 1 to 63 bytes, no NUL character (PostgreSQL identifier length)",
    },
    "setup.password_prompt": {
        "es": "Contraseña para pos_user (no se muestra): ",
        "en": "Password for pos_user (not echoed): ",
    },
    "setup.empty_password": {
        "es": "la contraseña leída de la entrada estándar está vacía",
        "en": "the password read from standard input is empty",
    },
    # simulate
    "simulate.inserted": {
        "es": "Entrada {entry_id}: {access} {who} ({result}) {at}",
        "en": "Entry {entry_id}: {access} {who} ({result}) {at}",
    },
    # doctor: the kit's checks (titles and results), judged from agent.db.inspect
    "doctor.check.partitions": {"es": "Particiones", "en": "Partitions"},
    "doctor.check.two_phase": {"es": "Commit en dos fases", "en": "Two-phase commit"},
    "doctor.check.indexes": {"es": "Índices", "en": "Indexes"},
    "doctor.check.sweep": {"es": "Costo del barrido", "en": "Sweep cost"},
    "doctor.check.session_limits": {"es": "Límites de sesión", "en": "Session limits"},
    "doctor.poll_mode": {
        "es": "no aplica en modo consulta periódica (connection.mode = poll)",
        "en": "not needed in poll mode (connection.mode = poll)",
    },
    "doctor.partitions.none": {
        "es": "registro_entradas no tiene particiones ni tablas hijas",
        "en": "registro_entradas has no partitions or child tables",
    },
    "doctor.partitions.kind_declarative": {"es": "particiones", "en": "partitions"},
    "doctor.partitions.kind_inherit": {"es": "tablas hijas (herencia)", "en": "child tables (inheritance)"},
    "doctor.partitions.ok": {
        "es": "{kind}: el trigger está en las {count} tablas donde caen las filas",
        "en": "{kind}: the trigger is on all {count} tables rows land in",
    },
    "doctor.partitions.missing": {
        "es": "{kind} sin el trigger: {tables}; las entradas que caen ahí no avisan al instante"
        " (llegan tarde, con el barrido)",
        "en": "{kind} without the trigger: {tables}; entries landing there are not notified live"
        " (they arrive late, by the sweep)",
    },
    "doctor.partitions.redirect": {
        "es": "El trigger BEFORE INSERT {triggers} de registro_entradas desvía las filas.",
        "en": "The BEFORE INSERT trigger {triggers} on registro_entradas diverts rows.",
    },
    "doctor.partitions.missing_fix": {
        "es": "Ejecute 'python -m agent setup-db' de nuevo: instala el trigger en cada tabla hija"
        " (también tras crear tablas hijas nuevas).",
        "en": "Run 'python -m agent setup-db' again: it installs the trigger on every child table"
        " (also after creating new child tables).",
    },
    "doctor.partitions.before": {
        "es": "registro_entradas tiene triggers BEFORE INSERT ({triggers}): si devuelven NULL y guardan la fila en"
        " otra tabla, esa entrada no avisa",
        "en": "registro_entradas has BEFORE INSERT triggers ({triggers}): if one returns NULL and stores the row in"
        " another table, that entry is not notified",
    },
    "doctor.partitions.before_fix": {
        "es": "Revise qué hacen esos triggers; si desvían filas a tablas que no heredan de registro_entradas, use el"
        " modo consulta periódica (connection.mode = poll).",
        "en": "Check what those triggers do; if they divert rows into tables that do not inherit from"
        " registro_entradas, use poll mode (connection.mode = poll).",
    },
    "doctor.two_phase.off": {
        "es": "max_prepared_transactions = 0: nadie puede usar PREPARE TRANSACTION",
        "en": "max_prepared_transactions = 0: nobody can use PREPARE TRANSACTION",
    },
    "doctor.two_phase.poll": {
        "es": "max_prepared_transactions = {count}; en modo consulta periódica no hay trigger: sin riesgo",
        "en": "max_prepared_transactions = {count}; poll mode has no trigger: no risk",
    },
    "doctor.two_phase.on": {
        "es": "max_prepared_transactions = {count}: si el software del torniquete usa commit en dos fases (MSDTC,"
        " XA), su PREPARE TRANSACTION falla después del NOTIFY de nuestro trigger y esa entrada se pierde",
        "en": "max_prepared_transactions = {count}: if the turnstile's software uses two-phase commit (MSDTC, XA),"
        " its PREPARE TRANSACTION fails after our trigger's NOTIFY and that entry is lost",
    },
    "doctor.two_phase.fix": {
        "es": "Confirme con el proveedor que el torniquete nunca usa PREPARE TRANSACTION; si lo usa, quite el"
        " trigger y use el modo consulta periódica (setup-db --no-trigger, connection.mode = poll).",
        "en": "Confirm with the vendor that the turnstile never uses PREPARE TRANSACTION; if it does, remove the"
        " trigger and use poll mode (setup-db --no-trigger, connection.mode = poll).",
    },
    "doctor.listen.replica": {
        "es": "el servidor es una réplica (hot standby): no admite LISTEN ni recibe los NOTIFY del primario",
        "en": "the server is a replica (hot standby): it cannot LISTEN and gets no NOTIFY from the primary",
    },
    "doctor.listen.replica_fix": {
        "es": "Use el modo consulta periódica contra la réplica (connection.mode = poll), o conecte al primario.",
        "en": "Use poll mode against the replica (connection.mode = poll), or connect to the primary.",
    },
    "doctor.indexes.ok": {
        "es": "los índices que usa el agente existen ({tables} tabla(s))",
        "en": "the indexes the agent relies on exist ({tables} table(s))",
    },
    "doctor.indexes.missing": {"es": "falta en {table} ({columns})", "en": "missing on {table} ({columns})"},
    "doctor.indexes.partitioned": {
        "es": "falta en la tabla particionada {table} ({columns}): las particiones nuevas se crearán sin índice",
        "en": "missing on the partitioned table {table} ({columns}): new partitions will be created without one",
    },
    "doctor.indexes.invalid": {
        "es": "{index} en {table} es INVALID (una creación concurrente falló)",
        "en": "{index} on {table} is INVALID (a concurrent build failed)",
    },
    "doctor.indexes.fix": {
        "es": "Ejecute 'python -m agent setup-db': crea los índices con CREATE INDEX CONCURRENTLY (sin bloquear el"
        " torniquete) y reconstruye los INVALID.",
        "en": "Run 'python -m agent setup-db': it creates the indexes with CREATE INDEX CONCURRENTLY (the"
        " turnstile is not blocked) and rebuilds INVALID ones.",
    },
    "doctor.sweep.detail": {
        "es": "un barrido en reposo: {ms} ms, {buffers} bloques leídos (~{rows} filas en la tabla)",
        "en": "one idle sweep: {ms} ms, {buffers} blocks read (~{rows} rows in the table)",
    },
    "doctor.sweep.not_run": {
        "es": "un barrido en reposo recorrería la tabla entera (Seq Scan, ~{rows} filas): no se mide, para no"
        " cargar el servidor del torniquete",
        "en": "one idle sweep would scan the whole table (Seq Scan, ~{rows} rows): not measured, so as not to load"
        " the turnstile's server",
    },
    "doctor.sweep.seq": {
        "es": "recorre la tabla entera (Seq Scan)",
        "en": "it scans the whole table (Seq Scan)",
    },
    "doctor.sweep.slow_fix": {
        "es": "Cada agente lo repite cada 15 s: revise la carga del servidor y ejecute ANALYZE registro_entradas.",
        "en": "Every agent repeats it every 15 s: check the server's load and run ANALYZE registro_entradas.",
    },
    "doctor.session_limits.ok": {
        "es": "sin límites de sesión del rol {role} por debajo del latido",
        "en": "no session limits of role {role} below the heartbeat",
    },
    "doctor.session_limits.item": {"es": "{name} = {value} ({scope})", "en": "{name} = {value} ({scope})"},
    "doctor.session_limits.low": {
        "es": "el rol {role} tiene {items}, menos que el latido del agente ({seconds} s); el agente fija sus"
        " propios valores en cada sesión",
        "en": "role {role} has {items}, below the agent's heartbeat ({seconds} s); the agent sets its own values"
        " for each of its sessions",
    },
    "doctor.session_limits.fix": {
        "es": "Nada que hacer para el agente. Otras herramientas con este rol sí los sufren: ALTER ROLE {role}"
        " RESET <ajuste>.",
        "en": "Nothing to do for the agent. Other tools using this role do hit them: ALTER ROLE {role}"
        " RESET <setting>.",
    },
    "doctor.tls_handshake.root_cert": {
        "es": "libpq verificó el servidor con {path} (un root.crt por defecto, no configurado aquí) y falló: {error}",
        "en": "libpq verified the server against {path} (a default root.crt, not configured here) and failed: {error}",
    },
    "doctor.tls_handshake.root_cert_fix": {
        "es": "No es la contraseña: renombre o borre {path} (lo dejó otra herramienta), o configure sslrootcert"
        " con la CA del torniquete y sslmode = verify-full.",
        "en": "It is not the password: rename or delete {path} (another tool left it), or set sslrootcert to"
        " the turnstile's CA and sslmode = verify-full.",
    },
    "doctor.tls.root_cert_ignored": {
        "es": "({path} existe y se ignora: no está configurado como CA)",
        "en": "({path} exists and is ignored: it is not configured as the CA)",
    },
    # setup-db: indexes, partitions, two-phase commit, no-trigger mode
    "setup.partitions": {
        "es": "trigger: instalado donde caen las filas: {tables}",
        "en": "trigger: installed where rows land: {tables}",
    },
    "setup.partitions_missing": {
        "es": "AVISO: tablas sin el trigger: {tables}",
        "en": "WARNING: tables without the trigger: {tables}",
    },
    "setup.two_phase": {
        "es": "AVISO: max_prepared_transactions = {count}. Si el torniquete usa commit en dos fases (MSDTC, XA),"
        " PREPARE TRANSACTION falla después del NOTIFY del trigger y la entrada se pierde. Confirme que nunca lo"
        " usa, o use setup-db --no-trigger y connection.mode = poll.",
        "en": "WARNING: max_prepared_transactions = {count}. If the turnstile uses two-phase commit (MSDTC, XA),"
        " PREPARE TRANSACTION fails after the trigger's NOTIFY and the entry is lost. Confirm it never does, or"
        " use setup-db --no-trigger and connection.mode = poll.",
    },
    "setup.no_trigger": {
        "es": "trigger: no instalado (--no-trigger); el agente debe usar connection.mode = poll",
        "en": "trigger: not installed (--no-trigger); the agent must use connection.mode = poll",
    },
    "setup.no_trigger_present": {
        "es": "trigger: sigue instalado en {tables}; --no-trigger no lo quita (DROP TRIGGER aviso_nueva_entrada"
        " ON <tabla>, si no lo quiere)",
        "en": "trigger: still installed on {tables}; --no-trigger does not remove it (DROP TRIGGER"
        " aviso_nueva_entrada ON <table>, if unwanted)",
    },
    "setup.index_skipped": {
        "es": "índices: no creados (--no-index); faltan: {indexes}",
        "en": "indexes: not created (--no-index); missing: {indexes}",
    },
    "setup.index_creating": {
        "es": "índice {index} en {table} ({columns}): creándolo sin bloquear la tabla...",
        "en": "index {index} on {table} ({columns}): building it without locking the table...",
    },
    "setup.index_rebuild": {
        "es": "índice {index} en {table}: INVALID (una creación anterior falló), se borra y se reconstruye",
        "en": "index {index} on {table}: INVALID (an earlier build failed), dropping and rebuilding it",
    },
    "setup.waiting": {
        "es": "otro setup-db se está ejecutando en esta base de datos; esperando a que termine...",
        "en": "another setup-db is running on this database; waiting for it to finish...",
    },
    "setup.index_busy": {
        "es": "índice {index} en {table}: otra sesión (pid {pid}) lo está creando ahora; no se toca (compruebe"
        " después con doctor que quedó válido)",
        "en": "index {index} on {table}: another session (pid {pid}) is building it right now; left alone (check"
        " with doctor afterwards that it ended valid)",
    },
    "setup.index_progress": {
        "es": "  {index}: {phase}, {done}/{total} bloques",
        "en": "  {index}: {phase}, {done}/{total} blocks",
    },
    "setup.index_progress_tuples": {
        "es": "  {index}: {phase}, {done}/{total} filas",
        "en": "  {index}: {phase}, {done}/{total} rows",
    },
    "setup.index_progress_phase": {"es": "  {index}: {phase}", "en": "  {index}: {phase}"},
    "setup.index_partitioned": {
        "es": "índice {index} en la tabla particionada {table}: {attached} partición(es) enlazada(s); las"
        " particiones nuevas lo tendrán",
        "en": "index {index} on the partitioned table {table}: {attached} partition(s) attached; new partitions"
        " will get it",
    },
    "setup.index_partitioned_partial": {
        "es": "índice {index} en la tabla particionada {table}: sin índice igual que enlazar en {tables}; las"
        " particiones nuevas no lo tendrán hasta que se complete",
        "en": "index {index} on the partitioned table {table}: no matching index to attach on {tables}; new"
        " partitions will not get it until that is done",
    },
    "setup.index_created": {"es": "índice {index}: creado en {seconds} s", "en": "index {index}: built in {seconds} s"},
    "setup.index_failed": {
        "es": "índice {index}: no se pudo crear ({detail}); vuelva a ejecutar setup-db (lo reconstruye)",
        "en": "index {index}: could not be built ({detail}); run setup-db again (it rebuilds it)",
    },
    "setup.replica": {
        "es": "el servidor es una réplica (hot standby): setup-db debe ejecutarse en el primario",
        "en": "the server is a replica (hot standby): run setup-db on the primary",
    },
    # generic
    "error.db": {"es": "Error de base de datos: {detail}", "en": "Database error: {detail}"},
    "error.dsn": {
        "es": "la cadena de conexión (--dsn) está mal formada; revise sus pares clave=valor o la URL"
        " (no se muestra: puede contener la contraseña)",
        "en": "the connection string (--dsn) is malformed; check its key=value pairs or URL"
        " (not shown: it may contain the password)",
    },
}
