"""User-facing text of configuration, credentials and autostart. See :mod:`agent.core.i18n`."""

MESSAGES: dict[str, dict[str, str]] = {
    # settings validation (agent.core.config); {setting} is the dotted key, {source} where it came from
    "config.issue_source": {"es": "{text} (en {source})", "en": "{text} (in {source})"},
    "config.unknown_key": {
        "es": "ajuste desconocido «{setting}»: revise la ortografía (ver docs/it-deployment.md, «Settings»)",
        "en": "unknown setting '{setting}': check the spelling (see docs/it-deployment.md, 'Settings')",
    },
    "config.wrong_type": {
        "es": "{setting} = {value}: se esperaba {expected}",
        "en": "{setting} = {value}: expected {expected}",
    },
    "config.not_a_number": {
        "es": "{setting} = {value}: no es un número",
        "en": "{setting} = {value}: not a number",
    },
    "config.out_of_range": {
        "es": "{setting} = {value}: debe estar entre {min} y {max}",
        "en": "{setting} = {value}: must be between {min} and {max}",
    },
    "config.not_a_choice": {
        "es": "{setting} = {value}: valores posibles: {choices}",
        "en": "{setting} = {value}: possible values: {choices}",
    },
    "config.empty": {"es": "{setting} no puede estar vacío", "en": "{setting} cannot be empty"},
    "config.channel_too_long": {
        "es": "{setting} = {value}: un canal tiene como máximo {max} bytes",
        "en": "{setting} = {value}: a channel has at most {max} bytes",
    },
    "config.unreadable": {
        "es": "no se puede leer el archivo de configuración: {detail}",
        "en": "cannot read the settings file: {detail}",
    },
    "config.bad_toml": {
        "es": "archivo de configuración con formato TOML inválido: {detail}",
        "en": "settings file is not valid TOML: {detail}",
    },
    "config.invalid_header": {
        "es": "La configuración tiene errores:",
        "en": "The settings have errors:",
    },
    # credentials
    "cred.unavailable": {
        "es": (
            "No hay un almacén de contraseñas del sistema utilizable, sin llavero ({detail}). En Windows se usa el "
            "Administrador de credenciales; en Linux hace falta un servicio Secret Service en la sesión "
            "(GNOME Keyring o KWallet). Sin escritorio (SSH), ejecute el comando dentro de una sesión D-Bus con el "
            'llavero abierto: dbus-run-session -- sh -c \'printf %s "$CLAVE_LLAVERO" | gnome-keyring-daemon '
            "--unlock --components=secrets --daemonize >/dev/null; python -m agent configure ...' (ver "
            "docs/it-deployment.md, «Credentials and the keyring»). La contraseña nunca se guarda en un archivo."
        ),
        "en": (
            "No usable system password store, no keyring ({detail}). Windows uses the Credential Manager; Linux "
            "needs a Secret Service in the session (GNOME Keyring or KWallet). Without a desktop (SSH), run the "
            "command inside a D-Bus session with the keyring unlocked: dbus-run-session -- sh -c 'printf %s "
            '"$KEYRING_PASSWORD" | gnome-keyring-daemon --unlock --components=secrets --daemonize >/dev/null; '
            'python -m agent configure ...\' (see docs/it-deployment.md, "Credentials and the keyring"). The '
            "password is never saved in a file."
        ),
    },
    "cred.locked": {
        "es": (
            "Llavero bloqueado: el almacén de contraseñas del sistema está bloqueado y nadie lo desbloqueó "
            "({detail}). Desbloquéelo (en el escritorio: el aviso de desbloqueo o «Contraseñas y claves»; sin "
            "escritorio: gnome-keyring-daemon --unlock) y vuelva a intentarlo."
        ),
        "en": (
            "Keyring locked: the system password store is locked and nobody unlocked it ({detail}). Unlock it "
            '(on the desktop: the unlock prompt or "Passwords and Keys"; without a desktop: gnome-keyring-daemon '
            "--unlock) and try again."
        ),
    },
    "cred.timed_out": {
        "es": (
            "El llavero del sistema no respondió en {seconds} s (¿servicio colgado?). Reinicie la sesión o el "
            "servicio del llavero y vuelva a intentarlo."
        ),
        "en": (
            "The system keyring did not answer within {seconds} s (a hung service?). Restart the session or the "
            "keyring service and try again."
        ),
    },
    "cred.error": {
        "es": "El almacén de contraseñas rechazó la operación: {detail}",
        "en": "The password store refused the operation: {detail}",
    },
    "cred.missing": {
        "es": "No hay contraseña guardada para {account}: ejecute «configure» (o use --password-stdin)",
        "en": "No password stored for {account}: run 'configure' (or use --password-stdin)",
    },
    "cred.state.unreachable": {"es": "sin llavero", "en": "no keyring"},
    "cred.state.locked": {"es": "llavero bloqueado", "en": "keyring locked"},
    "cred.state.timed_out": {"es": "llavero sin respuesta", "en": "keyring not answering"},
    "cred.state.error": {"es": "error del llavero", "en": "keyring error"},
    "cred.state.missing": {"es": "sin contraseña guardada", "en": "no password stored"},
    # TLS trust (agent.deploy.tls)
    "tls.system.weak_sslmode": {
        "es": (
            "sslrootcert = system exige sslmode = verify-full (ahora: {detail}): con los certificados del sistema "
            "solo la comprobación del nombre del servidor protege. Use --sslmode verify-full."
        ),
        "en": (
            "sslrootcert = system needs sslmode = verify-full (now: {detail}): with the system's certificates only "
            "the server name check protects you. Use --sslmode verify-full."
        ),
    },
    "tls.system.bad_env": {
        "es": (
            "sslrootcert = system: la variable SSL_CERT_FILE apunta a «{detail}», que no existe o no es un archivo "
            "con certificados PEM. "
            "Corríjala o quítela."
        ),
        "en": (
            "sslrootcert = system: the variable SSL_CERT_FILE points at '{detail}', which does not exist or is "
            "not a file of PEM certificates. Fix it or remove it."
        ),
    },
    "tls.system.no_bundle": {
        "es": (
            "sslrootcert = system: no se encontró el archivo de certificados del sistema (p. ej. "
            "/etc/ssl/certs/ca-certificates.crt, paquete ca-certificates). Instálelo, o indique el certificado de la "
            "CA del servidor con --sslrootcert RUTA."
        ),
        "en": (
            "sslrootcert = system: the system's CA bundle was not found (e.g. /etc/ssl/certs/ca-certificates.crt, "
            "package ca-certificates). Install it, or name the server's CA certificate with --sslrootcert PATH."
        ),
    },
    "tls.system.no_roots": {
        "es": (
            "sslrootcert = system: no se pudieron exportar los certificados de confianza de Windows ({detail}). "
            "Indique el certificado de la CA del servidor con --sslrootcert RUTA."
        ),
        "en": (
            "sslrootcert = system: the Windows trusted certificates could not be exported ({detail}). Name the "
            "server's CA certificate with --sslrootcert PATH."
        ),
    },
    "tls.bad_sslmode": {
        "es": "sslmode «{detail}» no existe: use disable, allow, prefer, require, verify-ca o verify-full.",
        "en": "sslmode '{detail}' does not exist: use disable, allow, prefer, require, verify-ca or verify-full.",
    },
    "configure.tls_hint": {
        "es": (
            "El servidor no ofrece TLS y la configuración lo exige (sslmode = require, lo normal en configuraciones "
            "nuevas). Active TLS en "
            "el servidor (ssl = on; ver docs/it-deployment.md, «TLS») o acepte una conexión sin cifrar con "
            "--sslmode prefer."
        ),
        "en": (
            "The server offers no TLS and the settings require it (sslmode = require, the default of new "
            "configurations). Turn TLS on in the "
            'server (ssl = on; see docs/it-deployment.md, "TLS") or accept an unencrypted connection with '
            "--sslmode prefer."
        ),
    },
    "listen.keyring_failed": {
        "es": "listen: no se pudo leer la contraseña del llavero (código de salida 4).",
        "en": "listen: could not read the password from the keyring (exit code 4).",
    },
    # configure
    "configure.prompt": {"es": "{label} [{current}]: ", "en": "{label} [{current}]: "},
    "configure.label.host": {"es": "Servidor (IP o nombre)", "en": "Server (IP or name)"},
    "configure.label.port": {"es": "Puerto", "en": "Port"},
    "configure.label.database": {"es": "Base de datos", "en": "Database"},
    "configure.label.user": {"es": "Usuario", "en": "User"},
    "configure.label.channel": {"es": "Canal NOTIFY", "en": "NOTIFY channel"},
    "configure.label.sslmode": {"es": "Modo SSL", "en": "SSL mode"},
    "configure.label.sslrootcert": {"es": "Certificado CA (ruta)", "en": "CA certificate (path)"},
    "configure.password_prompt": {
        "es": "Contraseña de {user} (vacío = conservar la guardada): ",
        "en": "Password of {user} (empty = keep the stored one): ",
    },
    "configure.need_input": {
        "es": "Nada que configurar: pase opciones (--host, --database, --user, --password-stdin...) o ejecute "
        "el comando en una terminal para el modo interactivo",
        "en": "Nothing to configure: pass options (--host, --database, --user, --password-stdin...) or run the "
        "command in a terminal for interactive mode",
    },
    "configure.no_password": {
        "es": "Falta la contraseña de {account}: pásela con --password-stdin (primera línea de la entrada)",
        "en": "The password of {account} is missing: pass it with --password-stdin (first line of input)",
    },
    "configure.checking": {"es": "Probando la conexión a {server}...", "en": "Testing the connection to {server}..."},
    "configure.connect_ok": {
        "es": "conexión: correcta (PostgreSQL {version})",
        "en": "connection: OK (PostgreSQL {version})",
    },
    "configure.auth_failed_hint": {
        "es": "El servidor rechazó usuario o contraseña: la contraseña que acaba de dar no es la de ese usuario en "
        "el servidor, o pg_hba.conf del torniquete no tiene una línea para este PC (p. ej. «hostssl torniquete_db "
        "pos_user 192.168.1.0/24 scram-sha-256»; luego recargue PostgreSQL). Repita configure con la contraseña "
        "correcta.",
        "en": "The server rejected the user or password: the password you just gave is not that user's password on "
        "the server, or the turnstile's pg_hba.conf has no line for this PC (e.g. 'hostssl torniquete_db pos_user "
        "192.168.1.0/24 scram-sha-256'; then reload PostgreSQL). Run configure again with the right password.",
    },
    "configure.connect_failed": {
        "es": "conexión: falló: {detail}",
        "en": "connection: failed: {detail}",
    },
    "configure.no_table": {
        "es": "trigger: no existe la tabla registro_entradas en esta base de datos (¿base equivocada?)",
        "en": "trigger: this database has no registro_entradas table (wrong database?)",
    },
    "configure.cannot_read": {
        "es": "lectura: {user} no puede leer {columns}; concédalo con «python -m agent setup-db» (modo poll: "
        "«setup-db --no-trigger»)",
        "en": "read access: {user} cannot read {columns}; grant it with 'python -m agent setup-db' (poll mode: "
        "'setup-db --no-trigger')",
    },
    "configure.missing_columns": {
        "es": "esquema: la base no tiene las columnas {columns}, que el agente necesita; ¿es la base del torniquete?",
        "en": "schema: the database lacks the columns {columns}, which the agent needs; is it the turnstile's "
        "database?",
    },
    "configure.not_saved": {
        "es": "No se guardó nada. Corrija lo anterior y vuelva a intentarlo.",
        "en": "Nothing was saved. Fix the above and try again.",
    },
    "configure.saved_file": {"es": "configuración guardada en {path}", "en": "settings saved to {path}"},
    "configure.saved_password": {
        "es": "contraseña guardada en {backend} (servicio {service}, usuario {account})",
        "en": "password saved in {backend} (service {service}, user {account})",
    },
    "configure.kept_password": {
        "es": "contraseña: se conserva la ya guardada en {backend}",
        "en": "password: keeping the one already stored in {backend}",
    },
    "configure.save_failed": {
        "es": "No se pudo guardar la configuración: {detail}",
        "en": "Could not save the settings: {detail}",
    },
    "configure.show_files": {"es": "archivos leídos: {files}", "en": "files read: {files}"},
    "configure.show_user_file": {"es": "archivo del usuario: {path}", "en": "user file: {path}"},
    "configure.show_machine_file": {"es": "archivo del equipo: {path}", "en": "machine file: {path}"},
    "configure.show_password": {
        "es": "contraseña de {account}: {state} ({backend})",
        "en": "password of {account}: {state} ({backend})",
    },
    "configure.password_stored": {"es": "guardada", "en": "stored"},
    "configure.password_absent": {"es": "no guardada", "en": "not stored"},
    "configure.forgot": {
        "es": "contraseña de {account} borrada del almacén",
        "en": "password of {account} removed from the store",
    },
    "configure.none_to_forget": {
        "es": "no había contraseña guardada para {account}",
        "en": "there was no stored password for {account}",
    },
    # autostart
    "autostart.on": {
        "es": "inicio automático: activado ({location})\n  ejecuta: {command}",
        "en": "autostart: on ({location})\n  runs: {command}",
    },
    "autostart.off": {"es": "inicio automático: desactivado ({location})", "en": "autostart: off ({location})"},
    "autostart.failed": {
        "es": "No se pudo cambiar el inicio automático: {detail}",
        "en": "Could not change autostart: {detail}",
    },
    # settings form (local page) and its tray menu items
    "settings.menu": {"es": "Configuración…", "en": "Settings…"},
    "settings.title": {"es": "Aviso de Entradas: configuración", "en": "Aviso de Entradas: settings"},
    "settings.password": {"es": "Contraseña", "en": "Password"},
    "settings.test": {"es": "Probar conexión", "en": "Test connection"},
    "settings.save": {"es": "Guardar", "en": "Save"},
    "settings.autostart": {"es": "Iniciar con Windows / la sesión", "en": "Start with Windows / the session"},
    "settings.saved": {
        "es": "Guardado. El agente se vuelve a conectar con los nuevos datos.",
        "en": "Saved. The agent reconnects with the new settings.",
    },
}
