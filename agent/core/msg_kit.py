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
    "simulate.no_members": {
        "es": "no hay miembros en la tabla miembros: use setup-db --demo-data",
        "en": "the miembros table is empty: use setup-db --demo-data",
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
