"""``python -m agent listen`` and ``simulate`` as a person runs them (subprocesses, real server)."""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.conftest import Database
from tests.engine_helpers import MEMBER_DATE_INDEX

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def _agent(*args: str, **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "agent", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, **kw
    )  # type: ignore[call-overload]


def _wait_for_line(stream: object, needle: str, timeout: float = 20.0) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()  # type: ignore[attr-defined]
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} not seen in {lines}")


def test_listen_json_receives_50_while_its_backend_is_killed_twice(db: Database) -> None:
    listener = _agent("listen", "--dsn", db.pos_dsn(), "--json", "--count", "50", "--timeout", "90")
    assert listener.stderr is not None and listener.stdout is not None
    _wait_for_line(listener.stderr, "Esperando notificaciones")
    sim_proc = _agent("simulate", "--dsn", db.admin_dsn(), "--count", "50", "--rate", "10")

    def killer() -> None:
        for delay in (1.5, 2.0):
            time.sleep(delay)
            with db.connect_admin() as conn, conn.cursor() as cur:
                cur.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'aviso-entradas'"
                )

    k = threading.Thread(target=killer)
    k.start()
    sim_out, sim_err = sim_proc.communicate(timeout=60)
    k.join()
    assert sim_proc.returncode == 0, sim_err
    inserted = [line for line in sim_out.splitlines() if line.startswith("Entrada ")]
    assert len(inserted) == 50
    out, err = listener.communicate(timeout=90)
    assert listener.returncode == 0, err
    objs = [json.loads(line) for line in out.splitlines()]
    ids = [o["id_entrada"] for o in objs]
    assert len(ids) == 50 and len(set(ids)) == 50, collections.Counter(ids).most_common(3)
    assert {int(line.split()[1].rstrip(":")) for line in inserted} == set(ids)
    for o in objs:
        assert {"id_entrada", "id_miembro", "nombre", "apellido", "fecha_hora", "source"} <= o.keys()
        assert dt.datetime.fromisoformat(o["fecha_hora"]).tzinfo is not None
        assert o["source"] in ("live", "catchup")
    assert "conectando" in err or "sin conexión" in err  # the state changes went to stderr


def test_listen_human_lines_and_timeout(db: Database) -> None:
    listener = _agent("listen", "--dsn", db.pos_dsn(), "--count", "2", "--timeout", "30")
    assert listener.stdout is not None
    head = _wait_for_line(listener.stdout, "Esperando notificaciones")
    assert head[0].startswith("✅ Conexión establecida")
    assert head[1].strip() == "Escuchando canal: nueva_entrada_canal"
    subprocess.run(
        [sys.executable, "-m", "agent", "simulate", "--dsn", db.admin_dsn(), "--count", "2", "--member", "5"],
        check=True,
        capture_output=True,
        env=ENV,
    )
    out, _ = listener.communicate(timeout=30)
    assert listener.returncode == 0
    assert out.count("Begoña Ordóñez (Mensual) en vivo") == 2

    quiet = subprocess.run(
        [
            sys.executable,
            "-m",
            "agent",
            "--lang",
            "en",
            "listen",
            "--dsn",
            db.pos_dsn(),
            "--count",
            "1",
            "--timeout",
            "2",
        ],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=30,
    )
    assert quiet.returncode == 1
    assert "Timed out: 0 of 1 entries" in quiet.stderr


def test_listen_timeout_without_count_names_no_total(db: Database) -> None:
    """``listen --timeout 2`` with no ``--count`` used to print "Tiempo agotado: 0 de ? entradas"."""
    r = subprocess.run(
        [sys.executable, "-m", "agent", "listen", "--dsn", db.pos_dsn(), "--timeout", "2"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=30,
    )
    assert r.returncode == 1
    assert "Tiempo agotado tras 2.0 s; entradas recibidas: 0" in r.stderr, r.stderr
    assert "?" not in r.stderr and " de " not in r.stderr.splitlines()[-1]


def test_simulate_rejects_bad_input_clearly(db: Database) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "agent", "simulate", "--dsn", db.admin_dsn(), "--member", "99999"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=30,
    )
    assert r.returncode == 1 and "Error de base de datos" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "agent",
            "simulate",
            "--dsn",
            db.admin_dsn(),
            "--burst",
            "--count",
            "3",
            "--tipo-acceso",
            "visitante",
        ],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=30,
    )
    assert r.returncode == 0 and r.stdout.count("visitante") == 3


def test_listen_refuses_bad_arguments_and_never_echoes_a_password() -> None:
    for bad in (["--timeout", "inf"], ["--timeout", "nan"], ["--timeout", "-1"], ["--count", "-1"]):
        r = subprocess.run(
            [sys.executable, "-m", "agent", "listen", "--dsn", "", *bad],
            capture_output=True,
            text=True,
            env=ENV,
            timeout=30,
        )
        assert r.returncode == 2 and "Traceback" not in r.stderr, (bad, r.stderr)
    for dsn in ("host=127.0.0.1 password=my secret", "postgresql://u:TopS%zzecret@127.0.0.1/db"):
        r = subprocess.run(
            [sys.executable, "-m", "agent", "listen", "--dsn", dsn, "--timeout", "5"],
            capture_output=True,
            text=True,
            env=ENV,
            timeout=30,
        )
        assert r.returncode == 2, r.stderr
        assert "secret" not in r.stdout + r.stderr and "ecret" not in r.stderr
        assert "mal formada" in r.stderr  # translated now (Spanish by default), never the DSN itself


def test_listen_survives_a_closed_pipe_and_a_non_utf8_console(db: Database) -> None:
    """`listen | head -c 1` on a console that cannot encode "ñ"/"✅": no traceback, exit 0 (review finding)."""
    env = {**ENV, "PYTHONIOENCODING": "ascii"}
    listener = subprocess.Popen(
        [sys.executable, "-m", "agent", "listen", "--dsn", db.pos_dsn(), "--count", "3", "--timeout", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert listener.stdout is not None
    head = subprocess.Popen(["head", "-c", "1"], stdin=listener.stdout, stdout=subprocess.PIPE)
    listener.stdout.close()  # head alone holds the pipe now
    time.sleep(3)
    subprocess.run(
        [sys.executable, "-m", "agent", "simulate", "--dsn", db.admin_dsn(), "--count", "3", "--member", "4"],
        check=True,
        capture_output=True,
        env=ENV,
    )
    head.communicate(timeout=60)
    _, err = listener.communicate(timeout=60)
    assert listener.returncode == 0, err
    assert "Traceback" not in err and "Error" not in err, err


def test_listen_with_a_cursor_loses_nothing_when_it_exits_early(db: Database, tmp_path: Path) -> None:
    """`--count 3` with 10 entries waiting, then the same cursor again: the other 7 come, once (review finding)."""
    cursor = tmp_path / "cursor.json"
    first = _agent(
        "listen", "--dsn", db.pos_dsn(), "--json", "--cursor", str(cursor), "--count", "1", "--timeout", "60"
    )
    assert first.stderr is not None
    _wait_for_line(first.stderr, "Esperando notificaciones")
    subprocess.run(
        [sys.executable, "-m", "agent", "simulate", "--dsn", db.admin_dsn(), "--count", "1"],
        check=True,
        capture_output=True,
        env=ENV,
    )
    first.communicate(timeout=60)
    burst = subprocess.run(
        [sys.executable, "-m", "agent", "simulate", "--dsn", db.admin_dsn(), "--count", "10", "--burst"],
        check=True,
        capture_output=True,
        text=True,
        env=ENV,
    )
    inserted = {int(line.split()[1].rstrip(":")) for line in burst.stdout.splitlines() if line.startswith("Entrada")}
    seen: list[int] = []
    for count in ("3", "7"):
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "agent",
                "listen",
                "--dsn",
                db.pos_dsn(),
                "--json",
                "--cursor",
                str(cursor),
                "--count",
                count,
                "--timeout",
                "30",
            ],
            capture_output=True,
            text=True,
            env=ENV,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
        seen += [json.loads(line)["id_entrada"] for line in run.stdout.splitlines()]
    assert sorted(seen) == sorted(inserted)


def test_listen_poll_mode_json_carries_previous_entry_and_first_visit(db: Database) -> None:
    """``listen --mode poll`` with no trigger installed; ``entrada_previa`` / ``primera_visita`` in ``--json``."""
    with db.connect_admin() as conn, conn.cursor() as cur:
        cur.execute("DROP TRIGGER aviso_nueva_entrada ON registro_entradas")
        cur.execute(MEMBER_DATE_INDEX)  # setup-db creates it; history columns need it
        cur.execute("INSERT INTO miembros (nombre, apellido) VALUES ('Nueva', 'Socia') RETURNING id_miembro")
        (newcomer,) = cur.fetchone()  # type: ignore[misc]
    listener = _agent(
        "listen", "--dsn", db.pos_dsn(), "--json", "--count", "3", "--timeout", "30", "--mode", "poll",
        "--poll-interval", "0.2",
    )  # fmt: skip
    assert listener.stderr is not None
    lines = _wait_for_line(listener.stderr, "Esperando notificaciones")
    assert any("Consultando la tabla cada 0.2 s" in line for line in lines), lines
    sim = [
        ("--member", str(newcomer)),  # first visit ever
        ("--member", str(newcomer), "--resultado", "denegado"),  # second: previous granted = the first
        ("--member", str(newcomer)),  # third: previous granted is still the first (the second was denied)
    ]
    for extra in sim:
        proc = _agent("simulate", "--dsn", db.admin_dsn(), "--count", "1", *extra)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        time.sleep(0.3)
    out, err = listener.communicate(timeout=40)
    assert listener.returncode == 0, err
    objs = [json.loads(line) for line in out.splitlines()]
    assert [o["primera_visita"] for o in objs] == [True, False, False], objs
    assert objs[0]["entrada_previa"] is None
    assert objs[1]["entrada_previa"] == objs[0]["fecha_hora"] == objs[2]["entrada_previa"]
    assert all(o["source"] == "live" for o in objs)


def test_listen_rejects_a_bad_poll_interval() -> None:
    proc = _agent("listen", "--dsn", "host=127.0.0.1", "--mode", "poll", "--poll-interval", "0")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "--poll-interval" in err


def test_listen_refuses_an_unknown_sslmode_in_the_dsn_at_once() -> None:
    """``--dsn "...?sslmode=bogus"`` (or ``sslmode=Require``): the one path let it through, and the engine then
    retried for ever with "unexpected connection error" instead of the usage exit code with a sentence."""
    for dsn in ("postgresql://u:TopSecret1@127.0.0.1/db?sslmode=bogus", "host=127.0.0.1 sslmode=Require"):
        r = subprocess.run(
            [sys.executable, "-m", "agent", "--lang", "en", "listen", "--dsn", dsn, "--timeout", "20"],
            capture_output=True,
            text=True,
            env=ENV,
            timeout=30,
        )
        assert r.returncode == 2, r.stdout + r.stderr
        assert "sslmode" in r.stderr and "verify-full" in r.stderr and "Traceback" not in r.stderr
        assert "TopSecret1" not in r.stdout + r.stderr


def test_listen_refuses_an_impossible_port_in_the_dsn_at_once() -> None:
    """``port=abc`` / ``:99999``: libpq refuses it at every attempt ("invalid port number", or for a name a
    misleading "could not translate host name"), and the engine retried for ever; now a usage error."""
    for dsn in (
        "host=127.0.0.1 port=abc password=TopSecret1",
        "postgresql://u:TopSecret1@127.0.0.1:99999/db",
        "host=127.0.0.1 port=² password=TopSecret1",  # isdigit() but not int(): was a ValueError traceback
    ):
        r = subprocess.run(
            [sys.executable, "-m", "agent", "listen", "--dsn", dsn, "--timeout", "20"],
            capture_output=True,
            text=True,
            env=ENV,
            timeout=30,
        )
        assert r.returncode == 2, r.stdout + r.stderr
        assert "mal formada" in r.stderr and "TopSecret1" not in r.stdout + r.stderr


def test_listen_with_an_odd_connect_timeout_in_the_dsn_does_not_crash() -> None:
    """``connect_timeout=²`` passes ``str.isdigit()`` but not ``int()``: listen ended in a ValueError traceback;
    ``connect_timeout=99999999999`` overflowed ``select()`` and the listener worker crashed. An unusable value
    now means the default (5 s); a huge one the settings' maximum (300 s)."""
    from agent.deploy.connection import MAX_CONNECT_TIMEOUT_S, resolve

    for value in ("²", "99999999999"):  # the second overflowed select() and crashed the listener worker
        r = subprocess.run(
            [sys.executable, "-m", "agent", "listen", "--dsn", f"host=127.0.0.1 port=1 connect_timeout={value}",
             "--timeout", "1", "-v"],
            capture_output=True,
            text=True,
            env=ENV,
            timeout=30,
        )  # fmt: skip
        assert r.returncode == 1 and "Traceback" not in r.stderr and "crashed" not in r.stderr, r.stderr
    assert resolve(None, dsn_override="host=h connect_timeout=99999999999").connect_timeout_s == MAX_CONNECT_TIMEOUT_S


def test_a_database_level_client_encoding_cannot_hide_a_member(db: Database) -> None:
    """``ALTER DATABASE ... SET client_encoding = 'WIN1252'`` (a Windows vendor's setup): the server then converts
    every text to cp1252 for us, and a member named "Łukasz" (not in cp1252) failed every read of that entry
    ('has no equivalent in encoding "WIN1252"'). The one connection path asks for UTF-8 at connect time, which
    overrides database and role settings."""
    with db.connect_admin() as admin, admin.cursor() as cur:
        cur.execute(f"ALTER DATABASE \"{db.name}\" SET client_encoding = 'WIN1252'")
        cur.execute("UPDATE miembros SET nombre = 'Łukasz', apellido = 'Wiśniewski' WHERE id_miembro = 5")
    listener = _agent("listen", "--dsn", db.pos_dsn(), "--json", "--count", "1", "--timeout", "30")
    assert listener.stdout is not None
    time.sleep(2.0)  # let it connect and LISTEN (the catch-up would deliver it anyway)
    subprocess.run(
        [sys.executable, "-m", "agent", "simulate", "--dsn", db.admin_dsn(), "--count", "1", "--member", "5"],
        check=True,
        capture_output=True,
        env=ENV,
    )
    out, err = listener.communicate(timeout=40)
    assert listener.returncode == 0, err
    entry = json.loads(out.strip().splitlines()[-1])
    assert "Łukasz" in json.dumps(entry, ensure_ascii=False), entry
