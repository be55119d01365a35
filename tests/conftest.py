"""Shared fixtures: one real PostgreSQL per test session and a fresh database per test.

The server is a throwaway cluster (``agent.db.throwaway``) unless ``AVISO_PG_DSN`` names an existing one
(superuser DSN; tests that restart the server are skipped there). ``AVISO_PG_BACKEND=system|pgserver`` picks the
binaries (CI runs the suite once with each).
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg2
import pytest

from agent.db import setup, throwaway

TEMPLATE = "aviso_template"
_counter = itertools.count()


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
