"""Helpers for the local page's tests: raw HTTP requests with chosen headers, a page on a real PostgreSQL, a
photo source on real files, and rows inserted into ``registro_entradas`` at chosen times."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conftest import Database

from agent.adapters.credentials_memory import MemoryStore
from agent.core.config import ConnectionSettings, Settings
from agent.core.model import Member
from agent.deploy import config_files
from agent.web.page import TodayPage
from agent.web.settings_form import SettingsForm, load_as_configure


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    page: TodayPage,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    host: str | None = None,
    token: bool = True,
) -> Reply:
    """One request to ``page``; ``path`` is relative to ``/<token>/`` (or to ``/`` with ``token=False``). Unless
    told otherwise the ``Host`` header is the page's own and POSTs carry its ``Origin`` and a JSON content type."""
    conn = http.client.HTTPConnection("127.0.0.1", page.port, timeout=30)
    full = (f"/{page.token}/" if token else "/") + path
    sent = {"Host": host or f"127.0.0.1:{page.port}"}
    if method == "POST":
        sent.update({"Origin": f"http://127.0.0.1:{page.port}", "Content-Type": "application/json"})
    sent.update(headers or {})
    sent = {k: v for k, v in sent.items() if v}
    conn.putrequest(method, full, skip_host=True, skip_accept_encoding=True)
    for name, value in sent.items():
        conn.putheader(name, value)
    if body is not None:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    response = conn.getresponse()
    reply = Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    conn.close()
    return reply


def post_json(page: TodayPage, path: str, data: dict[str, Any], **kw: Any) -> Reply:
    return request(page, "POST", path, body=json.dumps(data).encode(), **kw)


class FilePhotos:
    """A :class:`agent.photos.api.PhotoSource` over real files: ``member_id -> path`` (what the photo cache would
    hold). Used where the photo helper's fetching is not under test."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def cached(self, member: Member) -> Path | None:
        return self.files.get(str(member.member_id))

    def needs_fetch(self, member: Member) -> bool:
        return False

    def fetch(self, member: Member, done: Callable[[Path | None], None]) -> None:
        done(self.cached(member))

    def close(self) -> None:
        pass


def server_settings(db: Database) -> ConnectionSettings:
    return ConnectionSettings(host=db.server.host, port=db.server.port, database=db.name)


@dataclass
class FormRig:
    """A settings form on a real server, a memory keyring and a private settings file."""

    form: SettingsForm
    store: MemoryStore
    env: dict[str, str]
    saved: list[Settings] = field(default_factory=list)

    @property
    def file(self) -> Path:
        return Path(self.env[config_files.ENV_USER_FILE])


def form_rig(tmp_path: Path, lang: str = "en") -> FormRig:
    from agent.cli.deploy import check_server

    env = {config_files.ENV_USER_FILE: str(tmp_path / "config.toml")}
    store = MemoryStore()

    def load() -> Settings:
        return load_as_configure(env)

    rig = FormRig(
        SettingsForm(
            lang=lang, check=check_server, load=load, save=lambda s: config_files.save_user(s, env), store=lambda: store
        ),
        store,
        env,
    )
    rig.form.on_saved = rig.saved.append
    return rig


def insert_at(db: Database, rows: list[tuple[int, dt.datetime, str]]) -> list[int]:
    """Insert member entries ``(member id, fecha_hora, resultado)``; returns their ids (trigger fires as usual)."""
    ids = []
    with db.connect_admin() as conn, conn.cursor() as cur:
        for member, at, result in rows:
            cur.execute(
                "INSERT INTO registro_entradas (id_miembro, tipo_acceso, fecha_hora, resultado)"
                " VALUES (%s, 'miembro', %s, %s) RETURNING id_entrada",
                (member, at, result),
            )
            row = cur.fetchone()
            assert row is not None
            ids.append(int(row[0]))
    return ids


class Captured(logging.Handler):
    """Every log record of the process, formatted, for "no password in any log line" checks."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def __enter__(self) -> Captured:
        root = logging.getLogger()
        self._level = root.level
        root.addHandler(self)
        root.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        root = logging.getLogger()
        root.removeHandler(self)
        root.setLevel(self._level)
