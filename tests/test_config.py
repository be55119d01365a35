"""Settings: the defaults table, validation messages, TOML files, environment overrides and their precedence."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.core import config
from agent.core.config import ConfigError, ConnectionSettings, Settings
from agent.deploy import config_files


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """An environment whose two config files live in ``tmp_path`` (nothing from the real user)."""
    return {
        config_files.ENV_USER_FILE: str(tmp_path / "user" / "config.toml"),
        config_files.ENV_MACHINE_FILE: str(tmp_path / "machine" / "config.toml"),
    }


def write(path: str, text: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text, encoding="utf-8")


def test_defaults_table_lists_every_field_with_its_dataclass_default() -> None:
    table = {key: default for key, _typ, default in config.defaults_table()}
    s = Settings()
    assert table["connection.host"] == s.connection.host == "localhost"
    assert table["connection.port"] == 5432
    assert table["connection.channel"] == "nueva_entrada_canal"
    assert table["notifications.flood_window_s"] == 30.0
    assert table["pause.long_pause_min"] == 60
    assert table["log_level"] == "INFO"
    assert set(table) == set(config.flatten(config.to_mapping(s)))
    # units are in the names of every numeric setting but the port and counts
    for key, typ, _ in config.defaults_table():
        if typ == "float" or key.endswith(("timeout_s", "_min", "_days")):
            assert key.rsplit("_", 1)[-1] in ("s", "min", "days"), key


def test_no_files_no_env_gives_defaults(files: dict[str, str]) -> None:
    loaded = config_files.load(files)
    assert loaded.settings == Settings()
    assert loaded.files == ()
    assert loaded.sources == {}


def test_precedence_machine_then_user_then_env_then_options(files: dict[str, str]) -> None:
    write(
        files[config_files.ENV_MACHINE_FILE],
        '[connection]\nhost = "10.0.0.1"\nport = 5433\ndatabase = "maquina"\n[pause]\nshort_pause_min = 5\n',
    )
    write(files[config_files.ENV_USER_FILE], '[connection]\nhost = "10.0.0.2"\nport = 5434\n')
    env = {**files, "AVISO_CONNECTION_PORT": "5435", "AVISO_LOG_LEVEL": "debug"}
    loaded = config_files.load(env, overrides={"connection.channel": "canal_cli"})
    c = loaded.settings.connection
    assert (c.host, c.port, c.database, c.channel) == ("10.0.0.2", 5435, "maquina", "canal_cli")
    assert loaded.settings.pause.short_pause_min == 5
    assert loaded.settings.log_level == "DEBUG"
    assert loaded.sources["connection.host"] == files[config_files.ENV_USER_FILE]
    assert loaded.sources["connection.database"] == files[config_files.ENV_MACHINE_FILE]
    assert loaded.sources["connection.port"] == "AVISO_CONNECTION_PORT"
    assert loaded.sources["connection.channel"] == "--channel"
    assert [str(p) for p in loaded.files] == [files[config_files.ENV_MACHINE_FILE], files[config_files.ENV_USER_FILE]]
    # without the environment (what `configure` saves from)
    assert config_files.load(env, use_env=False).settings.connection.port == 5434


def test_every_problem_is_reported_at_once_with_its_source(files: dict[str, str]) -> None:
    write(
        files[config_files.ENV_USER_FILE],
        '[connection]\nport = 70000\nsslmode = "sometimes"\nhots = "x"\nhost = ""\n'
        '[notifications]\nlanguage = "fr"\nflood_max_count = true\n',
    )
    with pytest.raises(ConfigError) as err:
        config_files.load({**files, "AVISO_PAUSE_LONG_PAUSE_MIN": "soon"})
    keys = sorted(i.key for i in err.value.issues)
    assert keys == [
        "connection.host",
        "connection.hots",
        "connection.port",
        "connection.sslmode",
        "notifications.flood_max_count",
        "notifications.language",
        "pause.long_pause_min",
    ]
    es = err.value.describe("es")
    en = err.value.describe("en")
    user = files[config_files.ENV_USER_FILE]
    assert f"connection.port = 70000: debe estar entre 1 y 65535 (en {user})" in es
    assert f"connection.port = 70000: must be between 1 and 65535 (in {user})" in en
    assert "connection.sslmode = 'sometimes': possible values: disable, allow, prefer, require, verify-ca" in en
    assert "unknown setting 'connection.hots'" in en
    assert "connection.host cannot be empty" in en
    assert "notifications.flood_max_count = True: expected number" in en
    assert "pause.long_pause_min = soon: not a number (in AVISO_PAUSE_LONG_PAUSE_MIN)" in en


def test_bad_toml_names_the_file_and_the_line(files: dict[str, str]) -> None:
    write(files[config_files.ENV_MACHINE_FILE], '[connection]\nhost = "a"\nport = \n')
    with pytest.raises(ConfigError) as err:
        config_files.load(files)
    text = err.value.describe("en")
    assert "not valid TOML" in text
    assert "line 3" in text
    assert files[config_files.ENV_MACHINE_FILE] in text


def test_channel_longer_than_an_identifier_is_refused() -> None:
    with pytest.raises(ConfigError, match="at most 63 bytes"):
        config.from_mapping({"connection.channel": "ñ" * 32})  # 64 bytes in UTF-8
    assert config.from_mapping({"connection.channel": "c" * 63}).connection.channel == "c" * 63


def test_whole_floats_are_accepted_for_integers_but_fractions_are_not() -> None:
    assert config.from_mapping({"connection.port": 5433.0}).connection.port == 5433
    with pytest.raises(ConfigError, match="whole number"):
        config.from_mapping({"connection.port": 5433.5})


def test_save_user_round_trips_and_holds_no_password(files: dict[str, str]) -> None:
    s = config.from_mapping(
        {"connection.host": "192.168.1.50", "connection.sslmode": "verify-full", "connection.sslrootcert": r"C:\ca.crt"}
    )
    path = config_files.save_user(s, files)
    assert str(path) == files[config_files.ENV_USER_FILE]
    text = path.read_text(encoding="utf-8")
    assert "password" not in text.replace("The database password is not here", "")
    assert "[pause]" not in text  # only what differs from defaults + machine file
    assert tomllib.loads(text)["connection"]["sslrootcert"] == r"C:\ca.crt"
    assert config_files.load(files).settings == s
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not path.with_name(path.name + ".tmp").exists()


def test_user_file_does_not_freeze_machine_wide_values(files: dict[str, str]) -> None:
    machine = files[config_files.ENV_MACHINE_FILE]
    write(machine, '[connection]\nhost = "10.0.0.1"\n')
    current = config_files.load(files, use_env=False).settings
    config_files.save_user(config.from_mapping({"connection.port": 6000}, base=current), files)
    user_text = Path(files[config_files.ENV_USER_FILE]).read_text(encoding="utf-8")
    assert "port = 6000" in user_text and "10.0.0.1" not in user_text
    # IT moves the server later: users who did not choose a host follow the machine file
    write(machine, '[connection]\nhost = "10.0.0.2"\n')
    c = config_files.load(files).settings.connection
    assert (c.host, c.port) == ("10.0.0.2", 6000)
    # a key the user file already has stays there, even when equal to the machine value
    write(files[config_files.ENV_USER_FILE], '[connection]\nhost = "10.0.0.2"\n')
    config_files.save_user(config_files.load(files, use_env=False).settings, files)
    assert 'host = "10.0.0.2"' in Path(files[config_files.ENV_USER_FILE]).read_text(encoding="utf-8")


def test_env_var_names() -> None:
    assert config_files.env_var("connection.host") == "AVISO_CONNECTION_HOST"
    assert config_files.env_var("log_level") == "AVISO_LOG_LEVEL"


def test_default_paths_follow_platformdirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "etc-xdg"))
    assert config_files.user_file({}) == tmp_path / "cfg" / "AvisoEntradas" / "config.toml"
    assert config_files.machine_file({}) == tmp_path / "etc-xdg" / "AvisoEntradas" / "config.toml"


def test_credential_account_names_the_server() -> None:
    a = config.credential_account(ConnectionSettings(host="10.0.0.5", port=5432, database="torniquete_db"))
    b = config.credential_account(ConnectionSettings(host="10.0.0.6", port=5432, database="torniquete_db"))
    assert a == "pos_user@10.0.0.5:5432/torniquete_db"
    assert a != b


def test_resolved_connection_has_no_password_in_its_dsn_and_keeps_tls_settings() -> None:
    """The one connection path (settings -> parameters): the password travels apart from the DSN."""
    from psycopg2.extensions import parse_dsn

    from agent.deploy.connection import resolve

    conn = ConnectionSettings(host="h", port=6543, sslmode="verify-full", sslrootcert="/ca.pem", connect_timeout_s=3)
    resolved = resolve(conn, password_override="s3cret")
    params = parse_dsn(resolved.dsn)
    assert params["host"] == "h" and params["port"] == "6543" and params["dbname"] == "torniquete_db"
    assert resolved.sslmode == "verify-full" and resolved.sslrootcert == "/ca.pem"
    assert resolved.connect_timeout_s == 3 and resolved.password == "s3cret"
    assert "password" not in params and "s3cret" not in repr(resolved)


_texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=20)


@settings(max_examples=60, deadline=None)
@given(
    host=_texts.filter(lambda t: t.strip() == t),
    port=st.integers(1, 65535),
    window=st.floats(0.1, 3600, allow_nan=False),
    click=st.text(max_size=30).filter(lambda t: t.strip() == t),
)
def test_any_valid_settings_survive_a_toml_round_trip(
    tmp_path_factory: pytest.TempPathFactory, host: str, port: int, window: float, click: str
) -> None:
    base = tmp_path_factory.mktemp("rt")
    env = {config_files.ENV_USER_FILE: str(base / "c.toml"), config_files.ENV_MACHINE_FILE: str(base / "m.toml")}
    s = config.from_mapping(
        {
            "connection.host": host,
            "connection.port": port,
            "notifications.flood_window_s": window,
            "notifications.click_action": click,
        }
    )
    config_files.save_user(s, env)
    assert config_files.load(env).settings == s


# ---------------------------------------------------------------------------------------------------------------
# The one conninfo builder and the TLS default-file policy (agent/db/connect.py), pure


@settings(max_examples=80, deadline=None)
@given(value=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1))
def test_make_conninfo_quotes_any_value_so_libpq_reads_it_back(value: str) -> None:
    from psycopg2.extensions import parse_dsn

    from agent.db.connect import make_conninfo

    parsed = parse_dsn(make_conninfo(host=value, port=5432, user="u", sslrootcert="", dbname=None))
    assert parsed == {"host": value, "port": "5432", "user": "u"}  # empty / None values are left out


@pytest.mark.parametrize(
    ("sslmode", "dsn", "env", "expected"),
    [
        ("require", "host=h", {}, "NO_ROOT_CERT"),
        ("prefer", "host=h", {}, "NO_ROOT_CERT"),
        (None, "host=h", {}, "NO_ROOT_CERT"),  # libpq's default mode is prefer
        (None, "host=h sslmode=allow", {}, "NO_ROOT_CERT"),
        ("verify-full", "host=h", {}, None),  # verifying modes keep libpq's documented default file
        ("verify-ca", "host=h", {}, None),
        (None, "host=h", {"PGSSLMODE": "verify-full"}, None),
        ("disable", "host=h", {}, None),
        ("require", "host=h sslrootcert=/ca.pem", {}, "DSN"),  # a CA named anywhere is honoured
        ("require", "host=h", {"PGSSLROOTCERT": "/env.pem"}, None),
    ],
)
def test_default_root_cert_policy(sslmode: str | None, dsn: str, env: dict[str, str], expected: str | None) -> None:
    from psycopg2.extensions import parse_dsn

    from agent.db.connect import NO_ROOT_CERT, connection_kwargs

    kwargs = connection_kwargs(dsn, sslmode=sslmode, env=env)
    if expected == "NO_ROOT_CERT":
        assert kwargs["sslrootcert"] == NO_ROOT_CERT and not Path(NO_ROOT_CERT).exists()
    elif expected == "DSN":
        assert "sslrootcert" not in kwargs and parse_dsn(kwargs["dsn"])["sslrootcert"] == "/ca.pem"
    else:
        assert "sslrootcert" not in kwargs
    assert connection_kwargs(dsn, sslmode=sslmode, sslrootcert="/given.pem", env=env)["sslrootcert"] == "/given.pem"


def test_default_root_cert_names_libpqs_file(tmp_path: Path) -> None:
    from agent.db.connect import default_root_cert

    assert default_root_cert({"HOME": str(tmp_path)}) is None
    (tmp_path / ".postgresql").mkdir()
    (tmp_path / ".postgresql" / "root.crt").write_text("x")
    assert default_root_cert({"HOME": str(tmp_path)}) == tmp_path / ".postgresql" / "root.crt"


def test_resolve_with_a_dsn_override_takes_tls_and_timeout_from_it() -> None:
    from agent.deploy.connection import resolve

    params = resolve(
        None, dsn_override="host=db port=6 dbname=x user=u password=pw sslmode=require connect_timeout=9", channel="C"
    )
    assert (params.sslmode, params.connect_timeout_s, params.channel, params.password) == ("require", 9, "C", "pw")
    assert params.password_source == "dsn" and params.account is None and "pw" not in params.dsn
    assert resolve(None, dsn_override="").dsn == ""  # '' = PG* variables only
    settings_params = resolve(
        ConnectionSettings(host="h", sslmode="verify-full", sslrootcert="/ca.pem"), password_override="typed"
    )
    assert settings_params.password_source == "override" and settings_params.password_problem is None
    assert settings_params.connect_kwargs()["sslrootcert"] == "/ca.pem"


def test_listen_with_invalid_settings_is_a_usage_error(tmp_path: Path) -> None:
    """`listen` without --dsn reads the settings through the connection path: invalid ones are exit 2 with every
    problem and its source, before any keyring read (BadSettings)."""
    import subprocess
    import sys

    machine = tmp_path / "machine.toml"
    machine.write_text("[connection]\nport = 99999\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AVISO_", "PG"))}
    env.update(
        AVISO_MACHINE_CONFIG_FILE=str(machine),
        AVISO_CONFIG_FILE=str(tmp_path / "user.toml"),
        AVISO_CREDENTIALS="memory",
        AVISO_LANG="en",
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-m", "agent", "listen", "--timeout", "5"],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=60,
    )
    assert out.returncode == 2, out.stderr
    assert "The settings have errors" in out.stderr and "connection.port = 99999" in out.stderr
    assert str(machine) in out.stderr and "Traceback" not in out.stderr


def test_not_a_number_is_refused_for_every_decimal_setting(files: dict[str, str], tmp_path: Path) -> None:
    """``nan`` (TOML has it; ``float("nan")`` reads it from a variable) fails every range check silently, since
    any comparison with NaN is false: ``AVISO_CONNECTION_POLL_INTERVAL_S=nan`` got through validation and ended
    ``listen`` with a ValueError traceback. Every float setting refuses it with the usual sentence."""
    import math
    import subprocess
    import sys

    floats = [key for key, typ in config.known_keys().items() if typ == "float"]
    assert "connection.poll_interval_s" in floats
    for key in floats:
        with pytest.raises(ConfigError) as err:
            config.from_mapping({key: math.nan})
        assert key in str(err.value.describe("en"))
        with pytest.raises(ConfigError):
            config.from_mapping({key: config.coerce(key, "nan")})
    write(files[config_files.ENV_MACHINE_FILE], "[connection]\npoll_interval_s = nan\n")
    with pytest.raises(ConfigError, match="poll_interval_s"):
        config_files.load(env=files)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AVISO_", "PG"))}
    env.update(files, AVISO_CREDENTIALS="memory", AVISO_LANG="en")
    env.pop(config_files.ENV_MACHINE_FILE)
    env.update(AVISO_MACHINE_CONFIG_FILE=str(tmp_path / "none.toml"), AVISO_CONNECTION_POLL_INTERVAL_S="nan")
    out = subprocess.run(
        [sys.executable, "-m", "agent", "listen", "--timeout", "5"],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        timeout=60,
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert "AVISO_CONNECTION_POLL_INTERVAL_S" in out.stderr


def test_concurrent_saves_never_fail_or_tear_the_file(files: dict[str, str]) -> None:
    """``configure`` and the settings page saving at the same moment shared one ``config.toml.tmp``: one writer's
    replace took the file the other was still writing (a torn file) and the other failed with FileNotFoundError."""
    import threading

    errors: list[BaseException] = []
    for attempt in range(15):
        barrier = threading.Barrier(6)

        def save(n: int, barrier: threading.Barrier = barrier, attempt: int = attempt) -> None:
            s = config.from_mapping({"connection.host": f"10.0.{attempt}.{n}", "connection.port": 5000 + n})
            barrier.wait()
            try:
                config_files.save_user(s, env=files)
            except OSError as exc:
                errors.append(exc)

        workers = [threading.Thread(target=save, args=(n,)) for n in range(6)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        saved = tomllib.loads(Path(files[config_files.ENV_USER_FILE]).read_text(encoding="utf-8"))
        n = saved["connection"]["port"] - 5000
        assert saved["connection"]["host"] == f"10.0.{attempt}.{n}"  # one writer's whole file, not a mix
        assert sorted(p.name for p in Path(files[config_files.ENV_USER_FILE]).parent.iterdir()) == ["config.toml"]
    assert not errors, errors[:2]
