"""User-facing text of doctor and connection-error advice. See :mod:`agent.core.i18n`.

``advice.<problem>``: one sentence per :class:`agent.core.advice.Problem` (what happened, what to do), shown in
the tray tooltip, the log and ``doctor``. ``doctor.*``: the doctor report.
"""

MESSAGES: dict[str, dict[str, str]] = {
    # --- connection problems: what happened and what to do (agent.core.advice.explain) ---
    "advice.auth_failed": {
        "es": "El servidor rechazó usuario o contraseña. Vuelva a guardar la contraseña de pos_user con "
        "'python -m agent configure --password-stdin' (o «Configuración…» en el menú del icono) y revise que "
        "pg_hba.conf del torniquete tenga una línea para este PC (p. ej. «hostssl torniquete_db pos_user "
        "192.168.1.0/24 scram-sha-256»); luego recargue PostgreSQL.",
        "en": "The server rejected the user or password. Save pos_user's password again with "
        "'python -m agent configure --password-stdin' (or 'Settings…' in the tray menu) and check that the "
        "turnstile's pg_hba.conf has a line for this PC (e.g. 'hostssl torniquete_db pos_user 192.168.1.0/24 "
        "scram-sha-256'); then reload PostgreSQL.",
    },
    "advice.no_password": {
        "es": "No hay contraseña guardada para este servidor: ejecute «python -m agent configure» (o "
        "«Configuración…» en el menú de la bandeja) para guardar la de pos_user.",
        "en": "No password is stored for this server: run 'python -m agent configure' (or 'Settings…' in the "
        "tray menu) to save pos_user's password.",
    },
    "advice.refused": {
        "es": "El torniquete rechazó la conexión: PostgreSQL no está en marcha o no escucha en esa IP y puerto. "
        "Compruebe que el servicio esté iniciado, listen_addresses = '*' en postgresql.conf (y reinicie), la IP "
        "y el puerto configurados, y que el firewall del torniquete permita el puerto TCP {port}.",
        "en": "The turnstile refused the connection: PostgreSQL is not running or not listening on that address "
        "and port. Check the service is started, listen_addresses = '*' in postgresql.conf (then restart), the "
        "configured address and port, and that the turnstile's firewall allows TCP port {port}.",
    },
    "advice.timeout": {
        "es": "El torniquete no responde a tiempo: un firewall descarta la conexión, la IP es incorrecta o la red "
        "está caída. Permita el puerto TCP {port} en el firewall del torniquete y compruebe la IP y el cable/Wi-Fi.",
        "en": "The turnstile does not answer in time: a firewall drops the connection, the address is wrong or the "
        "network is down. Allow TCP port {port} in the turnstile's firewall and check the address and the network.",
    },
    "advice.unknown_host": {
        "es": "No se encuentra el nombre del servidor. Revise el nombre en la configuración o use la IP del "
        "torniquete.",
        "en": "The server name cannot be found. Check the name in the configuration or use the turnstile's IP address.",
    },
    "advice.no_database": {
        "es": "Esa base de datos no existe en el servidor. Revise el nombre (torniquete_db) en la configuración.",
        "en": "That database does not exist on the server. Check the name (torniquete_db) in the configuration.",
    },
    "advice.connection_lost": {
        "es": "Se perdió la conexión con el torniquete (reinicio o corte de red); el agente reconecta solo. "
        "Si se repite, revise la red y el registro de PostgreSQL del torniquete.",
        "en": "The connection to the turnstile was lost (restart or network cut); the agent reconnects by itself. "
        "If it keeps happening, check the network and the turnstile's PostgreSQL log.",
    },
    "advice.heartbeat_timeout": {
        "es": "El torniquete dejó de responder sin cerrar la conexión (red caída o equipo colgado); el agente "
        "reconecta solo. Revise la red entre este PC y el torniquete.",
        "en": "The turnstile stopped answering without closing the connection (network down or machine hung); the "
        "agent reconnects by itself. Check the network between this PC and the turnstile.",
    },
    "advice.schema": {
        "es": "Faltan tablas, columnas, el trigger o permisos que el agente necesita. Ejecute "
        "«python -m agent setup-db» en el torniquete.",
        "en": "Tables, columns, the trigger or grants the agent needs are missing. Run 'python -m agent setup-db' "
        "on the turnstile.",
    },
    "advice.other": {
        "es": "Error inesperado de conexión; el detalle está en el registro. Ejecute «python -m agent doctor».",
        "en": "Unexpected connection error; the details are in the log. Run 'python -m agent doctor'.",
    },
    "advice.tls": {
        "es": "Falló la conexión cifrada (TLS): el certificado del servidor no es de confianza, no corresponde al "
        "nombre del servidor, o el servidor no tiene ssl = on. Revise sslrootcert (el certificado de la CA) y "
        "que el nombre configurado sea el del certificado.",
        "en": "The encrypted (TLS) connection failed: the server certificate is not trusted, does not match the "
        "server name, or the server does not have ssl = on. Check sslrootcert (the CA certificate) and that the "
        "configured host name is the one in the certificate.",
    },
    "advice.read_only": {
        "es": "Ese servidor es una réplica de solo lectura (en recuperación) y allí LISTEN no funciona. "
        "Configure la IP del servidor principal del torniquete.",
        "en": "That server is a read-only replica (in recovery) and LISTEN does not work there. Configure the "
        "address of the turnstile's primary server.",
    },
    "advice.too_many_connections": {
        "es": "El servidor no admite más conexiones. Suba max_connections en postgresql.conf o cierre conexiones "
        "sobrantes.",
        "en": "The server accepts no more connections. Raise max_connections in postgresql.conf or close unused "
        "connections.",
    },
    "advice.pooler": {
        "es": "La conexión pasa por un agrupador de conexiones (PgBouncer en modo transaction o statement) y así "
        "LISTEN no recibe avisos. Conecte directo a PostgreSQL (puerto 5432) o use pool_mode = session.",
        "en": "The connection goes through a connection pooler (PgBouncer in transaction or statement mode), where "
        "LISTEN receives no notifications. Connect straight to PostgreSQL (port 5432) or use pool_mode = session.",
    },
    "advice.driver_missing": {
        "es": "Falta el controlador de PostgreSQL (psycopg2). Reinstale el agente o ejecute "
        "«pip install psycopg2-binary».",
        "en": "The PostgreSQL driver (psycopg2) is missing. Reinstall the agent or run 'pip install psycopg2-binary'.",
    },
    # --- doctor: command line ---
    "doctor.config_invalid": {
        "es": "La configuración no es válida; corríjala con «python -m agent configure»:\n{detail}",
        "en": "The configuration is invalid; fix it with 'python -m agent configure':\n{detail}",
    },
    "doctor.keyring_unavailable": {
        "es": "No se pudo leer la contraseña del llavero del sistema ({detail}); se sigue sin ella.",
        "en": "Could not read the password from the OS keyring ({detail}); going on without it.",
    },
    # --- doctor: table ---
    "doctor.col.check": {"es": "Comprobación", "en": "Check"},
    "doctor.col.result": {"es": "Resultado", "en": "Result"},
    "doctor.col.todo": {"es": "Qué hacer", "en": "What to do"},
    "doctor.status.ok": {"es": "[OK]", "en": "[OK]"},
    "doctor.status.warn": {"es": "[AVISO]", "en": "[WARN]"},
    "doctor.status.fail": {"es": "[FALLA]", "en": "[FAIL]"},
    "doctor.status.skip": {"es": "[--]", "en": "[--]"},
    "doctor.verdict.ok": {
        "es": "Resultado: todo lo necesario funciona.",
        "en": "Result: everything needed works.",
    },
    "doctor.verdict.fail": {
        "es": "Resultado: hay fallas; corrija las marcadas [FALLA] en orden, de arriba abajo.",
        "en": "Result: there are failures; fix the ones marked [FAIL] in order, top to bottom.",
    },
    "doctor.summary.ok": {
        "es": "Diagnóstico: todo funciona ({warnings} avisos).",
        "en": "Diagnosis: everything works ({warnings} warnings).",
    },
    "doctor.summary.fail": {
        "es": "Diagnóstico: falla «{check}» ({count} en total). {advice}",
        "en": "Diagnosis: '{check}' failed ({count} in total). {advice}",
    },
    "doctor.skipped": {"es": "no comprobado", "en": "not checked"},
    # --- doctor: check names ---
    "doctor.check.driver": {"es": "Controlador psycopg2", "en": "psycopg2 driver"},
    "doctor.check.resolve": {"es": "Nombre del servidor", "en": "Server name"},
    "doctor.check.port": {"es": "Puerto alcanzable", "en": "Port reachable"},
    "doctor.check.tls_handshake": {"es": "Negociación TLS", "en": "TLS negotiation"},
    "doctor.check.auth": {"es": "Autenticación", "en": "Authentication"},
    "doctor.check.database": {"es": "Base de datos", "en": "Database"},
    "doctor.check.server_version": {"es": "Versión del servidor", "en": "Server version"},
    "doctor.check.trigger": {"es": "Trigger", "en": "Trigger"},
    "doctor.check.channel": {"es": "Canal del trigger", "en": "Trigger channel"},
    "doctor.check.listen": {"es": "LISTEN funciona", "en": "LISTEN works"},
    "doctor.check.queries": {"es": "Consultas del agente", "en": "Agent queries"},
    "doctor.check.role": {"es": "Permisos del rol", "en": "Role privileges"},
    "doctor.check.tls": {"es": "Cifrado TLS", "en": "TLS encryption"},
    "doctor.check.clock": {"es": "Reloj", "en": "Clock"},
    "doctor.check.queue": {"es": "Cola de notificaciones", "en": "Notification queue"},
    # --- doctor: results ---
    "doctor.driver.missing": {"es": "no se puede importar: {error}", "en": "cannot be imported: {error}"},
    "doctor.driver.ok": {"es": "psycopg2 {version}, libpq {libpq}", "en": "psycopg2 {version}, libpq {libpq}"},
    "doctor.dsn.malformed": {
        "es": "la cadena de conexión (DSN) está mal formada",
        "en": "the connection string (DSN) is malformed",
    },
    "doctor.dsn.fix": {
        "es": "Revise los pares clave=valor (host=... port=... dbname=... user=...) o la URL postgresql://.",
        "en": "Check the key=value pairs (host=... port=... dbname=... user=...) or the postgresql:// URL.",
    },
    "doctor.sslmode.invalid": {"es": "sslmode «{sslmode}» no existe", "en": "sslmode '{sslmode}' does not exist"},
    "doctor.sslmode.fix": {
        "es": "Use uno de: disable, allow, prefer, require, verify-ca, verify-full (recomendado: verify-full).",
        "en": "Use one of: disable, allow, prefer, require, verify-ca, verify-full (recommended: verify-full).",
    },
    "doctor.port.ok": {"es": "conecta con {where}", "en": "connects to {where}"},
    "doctor.port.refused": {"es": "{where}: conexión rechazada", "en": "{where}: connection refused"},
    "doctor.port.timed_out": {
        "es": "{where}: sin respuesta en {seconds:.0f} s (paquetes descartados)",
        "en": "{where}: no answer within {seconds:.0f} s (packets dropped)",
    },
    "doctor.tls_handshake.ok": {"es": "sin errores", "en": "no errors"},
    "doctor.auth.ok": {"es": "conectado como {user}", "en": "logged in as {user}"},
    "doctor.auth.ok_before_db": {
        "es": "usuario y contraseña aceptados",
        "en": "user and password accepted",
    },
    "doctor.database.ok": {"es": "{database} existe", "en": "{database} exists"},
    "doctor.server_version.ok": {"es": "PostgreSQL {version}", "en": "PostgreSQL {version}"},
    "doctor.server_version.old": {
        "es": "PostgreSQL {version}: anterior a 12, el trigger no está probado ahí",
        "en": "PostgreSQL {version}: older than 12, the trigger is not tested there",
    },
    "doctor.server_version.old_fix": {
        "es": "Actualice PostgreSQL del torniquete a la versión 12 o posterior.",
        "en": "Upgrade the turnstile's PostgreSQL to version 12 or later.",
    },
    "doctor.trigger.ok": {"es": "instalado y activo ({comment})", "en": "installed and enabled ({comment})"},
    "doctor.trigger.no_table": {"es": "no existe la tabla {table}", "en": "table {table} does not exist"},
    "doctor.trigger.run_setup_schema": {
        "es": "Revise la base de datos configurada; en una base nueva ejecute «python -m agent setup-db --schema».",
        "en": "Check the configured database; on a new database run 'python -m agent setup-db --schema'.",
    },
    "doctor.trigger.off_path": {
        "es": "la tabla {table} existe en el esquema {schemas}, fuera del search_path de este usuario",
        "en": "table {table} exists in schema {schemas}, off this role's search_path",
    },
    "doctor.trigger.off_path_fix": {
        "es": "Ejecute «python -m agent setup-db» con el search_path del torniquete (da a pos_user ese search_path);"
        " no use --schema: crearía tablas vacías aparte.",
        "en": "Run 'python -m agent setup-db' with the turnstile's search_path (it gives pos_user that search_path);"
        " do not use --schema: it would create separate empty tables.",
    },
    "doctor.trigger.look_alike": {
        "es": "hay otra tabla registro_entradas en el esquema {schemas}; el kit vigila la del esquema {schema}",
        "en": "another registro_entradas table exists in schema {schemas}; the kit watches the one in {schema}",
    },
    "doctor.trigger.look_alike_fix": {
        "es": "Compruebe que el torniquete inserta en {schema}.registro_entradas (si no, ejecute setup-db con su"
        " search_path).",
        "en": "Make sure the turnstile inserts into {schema}.registro_entradas (else run setup-db with its"
        " search_path).",
    },
    "doctor.trigger.missing": {
        "es": "no hay trigger {trigger} en {table}: no se enviará ningún aviso",
        "en": "no trigger {trigger} on {table}: no notification will be sent",
    },
    "doctor.trigger.others": {
        "es": "Otros triggers en la tabla: {triggers}.",
        "en": "Other triggers on the table: {triggers}.",
    },
    "doctor.trigger.run_setup": {
        "es": "Ejecute «python -m agent setup-db» en el torniquete (instala o actualiza el trigger).",
        "en": "Run 'python -m agent setup-db' on the turnstile (installs or updates the trigger).",
    },
    "doctor.trigger.disabled": {
        "es": "el trigger {trigger} está desactivado (tgenabled = {mode})",
        "en": "trigger {trigger} is disabled (tgenabled = {mode})",
    },
    "doctor.trigger.enable": {
        "es": "Ejecute «ALTER TABLE {table} ENABLE TRIGGER {trigger};» en el torniquete.",
        "en": "Run 'ALTER TABLE {table} ENABLE TRIGGER {trigger};' on the turnstile.",
    },
    "doctor.trigger.other_version": {
        "es": "el trigger llama a otra versión ({function}: {comment})",
        "en": "the trigger calls another version ({function}: {comment})",
    },
    "doctor.trigger.modified": {
        "es": "la función {function} fue modificada a mano; no es la que distribuimos",
        "en": "function {function} was modified by hand; it is not the one we ship",
    },
    "doctor.channel.ok": {"es": "canal {channel}, igual al configurado", "en": "channel {channel}, as configured"},
    "doctor.channel.case": {
        "es": "el trigger envía a {theirs} y el agente escucha {ours}: difieren en mayúsculas/minúsculas, y los "
        "canales distinguen entre ellas",
        "en": "the trigger sends to {theirs} and the agent listens on {ours}: they differ in letter case, and "
        "channels are case-sensitive",
    },
    "doctor.channel.differs": {
        "es": "el trigger envía a {theirs} y el agente escucha {ours}",
        "en": "the trigger sends to {theirs} and the agent listens on {ours}",
    },
    "doctor.channel.fix": {
        "es": "Configure el canal exactamente como «{theirs}», o ejecute «python -m agent setup-db --channel» con "
        "el canal del agente.",
        "en": "Configure the channel exactly as '{theirs}', or run 'python -m agent setup-db --channel' with the "
        "agent's channel.",
    },
    "doctor.listen.ok": {
        "es": "aviso de prueba recibido en {ms} ms",
        "en": "test notification received in {ms} ms",
    },
    "doctor.listen.no_notify": {
        "es": "el aviso de prueba (NOTIFY en un canal privado) no llegó en {seconds:.0f} s.",
        "en": "the test notification (NOTIFY on a private channel) did not arrive within {seconds:.0f} s.",
    },
    "doctor.listen.port_differs": {
        "es": "El servidor escucha en el puerto {server} y usted conecta al {ours}: hay un intermediario "
        "(PgBouncer u otro proxy).",
        "en": "The server listens on port {server} and you connect to {ours}: something sits in between "
        "(PgBouncer or another proxy).",
    },
    "doctor.listen.pid_changes": {
        "es": "Cada transacción llega a otra sesión del servidor: agrupación por transacción.",
        "en": "Each transaction reaches another server session: transaction pooling.",
    },
    "doctor.queries.ok": {
        "es": "puede leer todas las columnas que usa el agente",
        "en": "can read every column the agent uses",
    },
    "doctor.queries.missing": {
        "es": "no puede leer columnas imprescindibles: {columns}",
        "en": "cannot read required columns: {columns}",
    },
    "doctor.queries.optional_missing": {
        "es": "columnas opcionales ausentes o sin permiso (se mostrarán vacías): {columns}",
        "en": "optional columns missing or not granted (shown empty): {columns}",
    },
    "doctor.queries.optional_fix": {
        "es": "Si existen, ejecute «python -m agent setup-db» para dar permiso de lectura.",
        "en": "If they exist, run 'python -m agent setup-db' to grant read access.",
    },
    "doctor.role.ok": {
        "es": "{user}: solo lectura de las columnas necesarias",
        "en": "{user}: read-only on the needed columns",
    },
    "doctor.role.too_much": {
        "es": "{user} tiene más permisos de los necesarios:",
        "en": "{user} has more rights than needed:",
    },
    "doctor.role.superuser": {"es": "es superusuario", "en": "is a superuser"},
    "doctor.role.attributes": {"es": "atributos {attributes}", "en": "attributes {attributes}"},
    "doctor.role.can_write": {"es": "puede modificar {tables}", "en": "can modify {tables}"},
    "doctor.role.sensitive": {
        "es": "puede leer datos sensibles ({columns})",
        "en": "can read sensitive data ({columns})",
    },
    "doctor.role.fix": {
        "es": "Conecte como pos_user (creado por «python -m agent setup-db», solo lectura por columna).",
        "en": "Connect as pos_user (created by 'python -m agent setup-db', column-level read-only).",
    },
    "doctor.tls.verified": {
        "es": "{protocol} {cipher}, servidor verificado (verify-full)",
        "en": "{protocol} {cipher}, server verified (verify-full)",
    },
    "doctor.tls.unverified": {
        "es": "{protocol} en uso pero sin verificar al servidor (sslmode={sslmode})",
        "en": "{protocol} in use but the server is not verified (sslmode={sslmode})",
    },
    "doctor.tls.verify_fix": {
        "es": "Use sslmode = verify-full y sslrootcert = el certificado de la CA del torniquete.",
        "en": "Use sslmode = verify-full and sslrootcert = the turnstile's CA certificate.",
    },
    "doctor.tls.local": {
        "es": "sin TLS, conexión local ({host}): no hace falta",
        "en": "no TLS, local connection ({host}): not needed",
    },
    "doctor.tls.off": {
        "es": "la conexión no está cifrada: los datos viajan sin cifrar por la red",
        "en": "the connection is not encrypted: data travels in clear text over the network",
    },
    "doctor.tls.off_fix": {
        "es": "Active ssl = on en el torniquete, use «hostssl» en pg_hba.conf y sslmode = verify-full aquí.",
        "en": "Set ssl = on on the turnstile, use 'hostssl' in pg_hba.conf and sslmode = verify-full here.",
    },
    "doctor.clock.detail": {
        "es": "diferencia servidor − este PC: {seconds} s",
        "en": "server − this PC difference: {seconds} s",
    },
    "doctor.clock.fix": {
        "es": "Sincronice la hora de este PC y del torniquete (hora automática de Windows / NTP).",
        "en": "Synchronise the time of this PC and the turnstile (Windows automatic time / NTP).",
    },
    "doctor.queue.detail": {"es": "{percent} % ocupada", "en": "{percent} % used"},
    "doctor.queue.fix": {
        "es": "Un cliente escucha sin leer (conexión colgada): búsquelo en pg_stat_activity y ciérrelo con "
        "pg_terminate_backend(pid). Con la cola a la mitad, el trigger deja de avisar.",
        "en": "A client listens without reading (stuck connection): find it in pg_stat_activity and close it with "
        "pg_terminate_backend(pid). At half full the trigger stops notifying.",
    },
}
