"""The demo's member photos end to end on a real database: ``demo_data`` points ``foto_url`` at the demo photo
server, and the photo source turns each URL read back from ``miembros`` into a thumbnail."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

from agent.core.config import PhotoSettings
from agent.core.model import Member
from agent.db import demo_data
from agent.photos.demo_server import DemoPhotoServer
from agent.photos.source import Photos
from tests.conftest import Database


def test_demo_members_get_photo_urls_served_by_the_demo_server(db: Database, tmp_path: Path) -> None:
    server = DemoPhotoServer(demo_data.photo_people()).start()
    photos = Photos(PhotoSettings(), folder=tmp_path)
    conn = db.connect_admin(autocommit=False)
    try:
        with conn.cursor() as cur:
            assert demo_data.set_photo_urls(cur, server.base_url) == len(demo_data.MEMBERS) - 1
            conn.commit()
            cur.execute("SELECT id_miembro, nombre, apellido, foto_url FROM miembros ORDER BY id_miembro")
            rows = cur.fetchall()
        by_name = {(r[1], r[2]): r for r in rows}
        got: dict[str, Path | None] = {}
        for m in demo_data.MEMBERS:
            member_id, first, last, url = by_name[(m.first_name, m.last_name)]
            if not m.has_photo:
                assert url is None
                continue
            assert url == f"{server.base_url}/{m.key}.jpg"
            done = threading.Event()

            def record(path: Path | None, key: str = m.key, ev: threading.Event = done) -> None:
                got[key] = path
                ev.set()

            photos.fetch(Member(member_id, first, last, photo_url=url), record)
            assert done.wait(5)
        assert len(got) == len(demo_data.MEMBERS) - 1 and all(p is not None and p.is_file() for p in got.values())
    finally:
        conn.close()
        photos.close()
        server.stop()


def test_load_with_a_photo_base_url(db: Database) -> None:
    conn = db.connect_admin(autocommit=False)
    try:
        with conn.cursor() as cur:
            cur.execute("DELETE FROM registro_entradas")
            cur.execute("DELETE FROM miembros")
            assert demo_data.load(cur, dt.date.today(), photo_base_url="http://127.0.0.1:1/fotos/") == len(
                demo_data.MEMBERS
            )
            cur.execute("SELECT count(*), count(foto_url) FROM miembros")
            assert cur.fetchone() == (len(demo_data.MEMBERS), len(demo_data.MEMBERS) - 1)
            cur.execute("SELECT foto_url FROM miembros WHERE nombre = 'María José'")
            assert cur.fetchone() == ("http://127.0.0.1:1/fotos/current.jpg",)
        conn.rollback()
    finally:
        conn.close()
