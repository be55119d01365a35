"""Shared fixtures: one real PostgreSQL per test session and a fresh database per test.

The server is a throwaway cluster (``agent.db.throwaway``) unless ``AVISO_PG_DSN`` names an existing one
(superuser DSN; tests that restart the server are skipped there). ``AVISO_PG_BACKEND=system|pgserver`` picks the
binaries (CI runs the suite once with each).

The ``slow`` marker is set here, not in each test file (``pytest_collection_modifyitems``): ``pytest -m "not slow"``
is the fast inner loop (pure code, no server, no child process), ``pytest`` alone still runs everything. A test is
slow when it uses a PostgreSQL fixture, carries the ``desktop``/``wine``/``restart`` marker, starts a process, a
server or a database connection (seen in its source, its fixtures' or the ``tests/`` helpers they call), or matches
``SLOW_NODE_IDS`` (measured: each took more than ~1 s here).
"""

from __future__ import annotations

import fnmatch
import inspect
import itertools
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

from agent.db import setup, throwaway

TEMPLATE = "aviso_template"
_counter = itertools.count()

# -- the `slow` marker --------------------------------------------------------------------------------------------
SLOW_FIXTURES = frozenset({"pg_server", "template_db", "db"})
SLOW_MARKERS = frozenset({"desktop", "wine", "restart"})
# Node-id patterns (fnmatch) of tests that are slow for a reason the rules above cannot see.
SLOW_NODE_IDS: tuple[str, ...] = (
    "tests/test_build_linux.py::*",  # builds the one-file binary with PyInstaller (~30 s)
    "tests/test_throwaway.py::*",  # starts and stops PostgreSQL servers itself
    "tests/test_tls.py::*",  # a CA made with openssl and a TLS server
    "tests/test_advice.py::test_real_client_side_failures",  # real connect timeouts (2 s)
    "tests/test_doctor.py::test_port_timed_out_is_told_apart_from_refused",  # a black-holed port (2 s)
    "tests/test_doctor.py::test_server_that_accepts_but_never_answers_is_a_libpq_timeout",  # libpq timeout (2 s)
)
# What starts a process or a server, in a test, a fixture, or a helper of tests/ they call.
_STARTS_PROCESS = re.compile(
    r"\bsubprocess\.|\bPopen\(|\bsys\.executable\b|\bos\.(?:system|spawn|exec)|HTTPServer\b|serve_forever\b"
    r"|\bthrowaway\.|\bpsycopg2\.connect\(|\bsocket\.socket\(|\.listen\(|\w*Server\("
)
_CALL = re.compile(r"\b([A-Za-z_]\w*)\(")
_TESTS_DIR = str(Path(__file__).resolve().parent)


def _in_tests(obj: object) -> bool:
    try:
        target = inspect.unwrap(obj) if inspect.isfunction(obj) else obj  # through @contextmanager and friends
        return (inspect.getsourcefile(target) or "").startswith(_TESTS_DIR)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


_VERDICTS: dict[tuple[object, int], bool] = {}


def _starts_process(obj: object, depth: int = 2) -> bool:
    """True when ``obj``'s source, or a function or class of ``tests/`` it calls (``depth`` levels), starts a
    process, a server or a database connection. Memoised: fixtures and helpers are shared by many tests, and
    ``inspect.getsource`` of a class parses its whole module."""
    key = (obj, depth)
    if key not in _VERDICTS:
        _VERDICTS[key] = False  # a helper that (indirectly) calls itself
        _VERDICTS[key] = _scan(obj, depth)
    return _VERDICTS[key]


def _scan(obj: object, depth: int) -> bool:
    try:
        source = inspect.getsource(obj)  # type: ignore[arg-type]
    except (OSError, TypeError):
        return False
    if _STARTS_PROCESS.search(source):
        return True
    if depth == 0:
        return False
    module = inspect.getmodule(obj)
    for name in set(_CALL.findall(source)):
        helper = getattr(module, name, None)
        ours = (inspect.isfunction(helper) or inspect.isclass(helper)) and _in_tests(helper)
        if ours and _starts_process(helper, depth - 1):
            return True
    return False


def _fixture_functions(item: pytest.Item) -> Iterator[object]:
    info = getattr(item, "_fixtureinfo", None)
    for defs in getattr(info, "name2fixturedefs", {}).values():
        for fixturedef in defs:
            if _in_tests(fixturedef.func):
                yield fixturedef.func


def is_slow(item: pytest.Item) -> bool:
    """The rule above, for one collected test."""
    if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    if any(item.get_closest_marker(name) for name in SLOW_MARKERS):
        return True
    if any(fnmatch.fnmatch(item.nodeid, pattern) for pattern in SLOW_NODE_IDS):
        return True
    function = getattr(item, "function", None)
    if function is not None and _starts_process(function):
        return True
    return any(_starts_process(fixture) for fixture in _fixture_functions(item))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if is_slow(item):
            item.add_marker(pytest.mark.slow)


@dataclass
class Database:
    """A fresh database with schema, trigger, pos_user and demo members installed."""

    server: throwaway.ThrowawayPostgres | throwaway.ExternalPostgres
    name: str
    pos_password: str

    def admin_dsn(self, **extra: str | int) -> str:
        return self.server.dsn(dbname=self.name, **extra)

    def pos_dsn(self, **extra: str | int) -> str:
        return self.server.dsn(dbname=self.name, user="pos_user", password=self.pos_password, **extra)

    def connect_admin(self, autocommit: bool = True) -> psycopg2.extensions.connection:
        conn = psycopg2.connect(self.admin_dsn())
        conn.autocommit = autocommit
        return conn


@pytest.fixture(scope="session")
def pg_server() -> Iterator[throwaway.ThrowawayPostgres | throwaway.ExternalPostgres]:
    server = throwaway.from_environment()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pos_password() -> str:
    return "pw-" + secrets.token_urlsafe(12)


@pytest.fixture(scope="session")
def template_db(pg_server: throwaway.ThrowawayPostgres | throwaway.ExternalPostgres, pos_password: str) -> str:
    admin = psycopg2.connect(pg_server.dsn())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        cur.execute(f"CREATE DATABASE {TEMPLATE}")
    admin.close()
    conn = psycopg2.connect(pg_server.dsn(dbname=TEMPLATE))
    setup.apply(conn, schema=True, pos_password=pos_password, demo_data=True)
    conn.close()
    return TEMPLATE


def create_database(server: throwaway.ThrowawayPostgres | throwaway.ExternalPostgres, template: str) -> str:
    """A new database copied from ``template``; returns its name."""
    name = f"t_{next(_counter)}_{secrets.token_hex(3)}"
    admin = psycopg2.connect(server.dsn())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    admin.close()
    return name


@pytest.fixture
def db(
    pg_server: throwaway.ThrowawayPostgres | throwaway.ExternalPostgres, template_db: str, pos_password: str
) -> Iterator[Database]:
    name = create_database(pg_server, template_db)
    yield Database(pg_server, name, pos_password)
    admin = psycopg2.connect(pg_server.dsn())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()
