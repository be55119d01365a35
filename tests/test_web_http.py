"""The local page's server over real HTTP on 127.0.0.1: the token, the Host and Origin checks, POST-only state
changes, live rows (Server-Sent Events, bounded clients, heartbeats), photos, the click action, and the settings
form on a real PostgreSQL (what the retired Tk window's tests covered: check then save, wrong password saves
nothing, stored password reused by "test", invalid values shown; the password in no response and no log line)."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import socket
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Database
from web_support import Captured, FilePhotos, form_rig, post_json, request, server_settings

from agent.core import config
from agent.core.model import Entry, Member
from agent.web import page as page_module
from agent.web.page import PageOptions, TodayPage
from agent.web.server import start_page

ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime.now().astimezone()


def entry(i: int, *, minutes_ago: float = 0, **member: object) -> Entry:
    m = Member(member_id=100 + i, first_name=f"Socio{i}", last_name="Núñez", plan="Mensual", **member)  # type: ignore[arg-type]
    return Entry(entry_id=i, member_id=100 + i, occurred_at=NOW - dt.timedelta(minutes=minutes_ago), member=m)


@pytest.fixture
def page() -> Iterator[TodayPage]:
    clicks: list[int | str] = []
    p = start_page(
        PageOptions(
            lang="en",
            read_today=lambda since: [entry(1, minutes_ago=1)],
            click=lambda m: bool(clicks.append(m)) or True,
        ),
        heartbeat_s=0.3,
    )
    p.clicks = clicks  # type: ignore[attr-defined]
    yield p
    p.close()


def test_binds_loopback_only_and_url_has_a_long_token(page: TodayPage) -> None:
    assert page.address[0] == "127.0.0.1"
    assert page.url == f"http://127.0.0.1:{page.port}/{page.token}/"
    assert len(page.token) >= 32
    other = start_page(PageOptions())
    try:
        assert other.token != page.token
    finally:
        other.close()
    # nothing listens on another interface for this port
    addresses = {a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None) if a[0] == socket.AF_INET}
    for address in addresses - {"127.0.0.1"}:
        with pytest.raises(OSError), socket.create_connection((address, page.port), timeout=2):
            pass


@pytest.mark.parametrize("path", ["", "api/today", "events", "page.js", "page.css", "photo/101", "api/settings"])
def test_no_endpoint_without_the_token(page: TodayPage, path: str) -> None:
    assert request(page, "GET", path, token=False).status == 404
    wrong = request(page, "GET", "x" * len(page.token) + "/" + path, token=False)
    assert wrong.status == 404
    assert b"Socio1" not in wrong.body


def test_with_the_token_the_page_and_rows_are_served_with_safe_headers(page: TodayPage) -> None:
    html = request(page, "GET", "")
    assert html.status == 200 and b"<table" in html.body
    assert "script-src 'self'" in html.headers["content-security-policy"]
    assert "form-action 'none'" in html.headers["content-security-policy"]
    assert html.headers["referrer-policy"] == "no-referrer"
    assert html.headers["cache-control"] == "no-store"
    assert html.headers["x-frame-options"] == "DENY"
    today = request(page, "GET", "api/today").json()
    assert today["db_ok"] is True
    start = dt.datetime.fromisoformat(today["day_start"])
    assert start.tzinfo is not None and start <= dt.datetime.now().astimezone() < start + dt.timedelta(hours=25)
    assert [r["name"] for r in today["rows"]] == ["Socio1 Núñez"]


@pytest.mark.parametrize("host", ["evil.example", f"evil.example:{0}", "127.0.0.1", "192.168.1.5:{port}"])
def test_foreign_host_header_is_refused(page: TodayPage, host: str) -> None:
    """DNS rebinding: a page of evil.example resolved to 127.0.0.1 sends its own Host."""
    reply = request(page, "GET", "api/today", host=host.format(port=page.port))
    assert reply.status == 403
    assert b"Socio1" not in reply.body
    assert request(page, "GET", "api/today", host=f"localhost:{page.port}").status == 200


def test_post_needs_same_origin_and_json(page: TodayPage) -> None:
    assert post_json(page, "api/click", {"member": "101"}).status == 404  # not on the page yet
    request(page, "GET", "api/today")  # the page lists member 101
    ok = post_json(page, "api/click", {"member": "101"})
    assert ok.status == 200 and ok.json()["ok"] is True
    assert page.clicks == [101]  # type: ignore[attr-defined]
    assert post_json(page, "api/click", {"member": "101"}, headers={"Origin": ""}).status == 403
    assert post_json(page, "api/click", {"member": "101"}, headers={"Origin": "http://evil.example"}).status == 403
    other_port = {"Origin": f"http://127.0.0.1:{page.port + 1}"}
    assert post_json(page, "api/click", {"member": "101"}, headers=other_port).status == 403
    cross = {"Sec-Fetch-Site": "cross-site"}
    assert post_json(page, "api/click", {"member": "101"}, headers=cross).status == 403
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert post_json(page, "api/click", {"member": "101"}, headers=form).status == 415
    text = {"Content-Type": "text/plain"}
    assert post_json(page, "api/click", {"member": "101"}, headers=text).status == 415
    assert post_json(page, "api/click", {"member": "101"}, token=False).status == 404
    assert page.clicks == [101]  # type: ignore[attr-defined]  # none of the refused ones ran the action


def test_get_never_changes_state(page: TodayPage) -> None:
    for path in ("api/click", "api/close", "api/click?member=101"):
        assert request(page, "GET", path).status == 404
    assert page.clicks == []  # type: ignore[attr-defined]
    assert not page.closed.is_set()


def test_click_on_an_unknown_member_or_without_action(page: TodayPage) -> None:
    request(page, "GET", "api/today")
    assert post_json(page, "api/click", {"member": "999"}).status == 404
    assert post_json(page, "api/click", {"member": 101}).status == 404  # not the listed text form
    quiet = start_page(PageOptions(lang="es"))
    try:
        quiet.publish(entry(2), None)
        reply = post_json(quiet, "api/click", {"member": "102"}).json()
        assert reply == {"ok": False, "message": "No hay acción de clic configurada."}
    finally:
        quiet.close()


def test_oversized_or_malformed_bodies(page: TodayPage) -> None:
    big = json.dumps({"member": "1" * (70 * 1024)}).encode()
    assert request(page, "POST", "api/click", body=big).status == 413
    assert request(page, "POST", "api/click", body=b"{not json").status == 400
    assert request(page, "POST", "api/click", body=b"[1, 2]").status == 400


def read_events(page: TodayPage, want: int, timeout_s: float = 10.0) -> tuple[list[str], http.client.HTTPConnection]:
    conn = http.client.HTTPConnection("127.0.0.1", page.port, timeout=timeout_s)
    conn.request("GET", f"/{page.token}/events")
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type", "").startswith("text/event-stream")
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    while len([x for x in lines if x.startswith(("data:", ":"))]) < want and time.monotonic() < deadline:
        lines.append(response.fp.readline().decode().rstrip("\n"))
    return lines, conn


def test_live_rows_and_heartbeats(page: TodayPage) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", page.port, timeout=10)
    conn.request("GET", f"/{page.token}/events")
    response = conn.getresponse()
    assert response.status == 200
    first = [response.fp.readline().decode() for _ in range(3)]
    assert first[0].startswith("retry:") and first[1].startswith(": connected")
    deadline = time.monotonic() + 5
    while page.client_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    page.publish(entry(7, expires_on=NOW.date() - dt.timedelta(days=3)), None)
    data = ""
    while not data:
        line = response.fp.readline().decode()
        if line.startswith("data:"):
            data = line[5:]
    row = json.loads(data)
    assert row["name"] == "Socio7 Núñez" and row["tone"] == "bad" and "EXPIRED 3 days ago" in row["status"]
    beat = ""
    while not beat.startswith(": heartbeat"):  # heartbeat_s=0.3 in the fixture
        beat = response.fp.readline().decode()
    conn.close()
    ids = [r["id"] for r in request(page, "GET", "api/today").json()["rows"]]
    assert ids == [7, 1]  # the published row is merged with the table's, newest first


def test_live_clients_are_bounded(page: TodayPage, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(page_module, "MAX_CLIENTS", 2)
    conns = []
    for _ in range(2):
        c = http.client.HTTPConnection("127.0.0.1", page.port, timeout=10)
        c.request("GET", f"/{page.token}/events")
        assert c.getresponse().status == 200
        conns.append(c)
    third = request(page, "GET", "events")
    assert third.status == 503 and third.headers["retry-after"] == "10"
    for c in conns:
        c.close()


def test_photo_served_only_for_listed_members(tmp_path: Path) -> None:
    from PIL import Image

    png = tmp_path / "101.png"
    Image.new("RGB", (8, 8), (200, 30, 30)).save(png)
    p = start_page(PageOptions(read_today=lambda since: [entry(1)], photos=FilePhotos({"101": png, "105": png})))
    try:
        rows = request(p, "GET", "api/today").json()["rows"]
        assert rows[0]["photo"] is True
        reply = request(p, "GET", "photo/101")
        assert reply.status == 200 and reply.headers["content-type"] == "image/png"
        assert reply.body == png.read_bytes()
        assert request(p, "GET", "photo/105").status == 404  # has a photo, but is not on the page
        assert request(p, "GET", "photo/..%2F..%2Fetc%2Fpasswd").status == 404
    finally:
        p.close()


def test_table_failure_still_lists_rows_received_since_start() -> None:
    def broken(since: dt.datetime) -> list[Entry]:
        raise OSError("server down")

    p = start_page(PageOptions(read_today=broken))
    try:
        p.publish(entry(3), None)
        today = request(p, "GET", "api/today").json()
        assert today["db_ok"] is False
        assert [r["id"] for r in today["rows"]] == [3]
    finally:
        p.close()


def test_request_log_never_shows_the_token(page: TodayPage) -> None:
    with Captured() as logs:
        request(page, "GET", "api/today")
        request(page, "GET", "nothing")
    assert any("api/today" in line for line in logs.lines)
    assert not any(page.token in line for line in logs.lines)


# -- the settings form (was tests/test_settings_window.py) ------------------------------------------------------


@pytest.fixture
def form_page(tmp_path: Path) -> Iterator[tuple[TodayPage, object]]:
    rig = form_rig(tmp_path)
    p = start_page(PageOptions(lang="en", settings_form=rig.form))
    yield p, rig
    p.close()


def fields(db: Database, **extra: object) -> dict[str, object]:
    conn = {"host": db.server.host, "port": str(db.server.port), "database": db.name, "sslmode": "prefer"}
    return {"connection": conn, **extra}  # the test server has no TLS (a new configuration starts at require)


def test_settings_save_checks_then_stores_password_and_file(form_page: tuple[TodayPage, object], db: Database) -> None:
    page, rig = form_page
    with Captured() as logs:
        view = request(page, "GET", "api/settings").json()
        assert view["password_stored"] is False and view["connection"]["host"] == "localhost"
        assert view["connection"]["sslmode"] == "require"  # a new configuration, as configure starts it
        body = fields(db, action="save", password=db.pos_password, notifications={"only_warnings": True})
        reply = post_json(page, "api/settings", body)
    assert reply.status == 200
    out = reply.json()
    assert out["ok"] and out["saved"], out
    assert any(line.startswith("Trigger: installed and enabled") for line in out["lines"]), out
    assert "Saved. The agent reconnects" in out["lines"][-1]
    account = config.credential_account(server_settings(db))
    assert rig.store.get(account) == db.pos_password  # type: ignore[attr-defined]
    text = rig.file.read_text()  # type: ignore[attr-defined]
    saved = tomllib.loads(text)
    assert saved["connection"]["database"] == db.name and saved["notifications"]["only_warnings"] is True
    assert db.pos_password not in text
    assert [s.connection.database for s in rig.saved] == [db.name]  # type: ignore[attr-defined]
    assert db.pos_password not in reply.body.decode()
    assert not any(db.pos_password in line for line in logs.lines)
    again = request(page, "GET", "api/settings")
    assert again.json()["password_stored"] is True and db.pos_password not in again.body.decode()


def test_settings_wrong_password_saves_nothing(form_page: tuple[TodayPage, object], db: Database) -> None:
    page, rig = form_page
    reply = post_json(page, "api/settings", fields(db, action="save", password="nope-not-it"))
    out = reply.json()
    assert not out["ok"] and not out["saved"]
    assert any("password authentication failed" in line for line in out["lines"])
    assert "nope-not-it" not in reply.body.decode()
    assert not rig.file.exists()  # type: ignore[attr-defined]
    assert rig.store.get(config.credential_account(server_settings(db))) is None  # type: ignore[attr-defined]


def test_settings_test_uses_the_stored_password(form_page: tuple[TodayPage, object], db: Database) -> None:
    page, rig = form_page
    rig.store.set(config.credential_account(server_settings(db)), db.pos_password)  # type: ignore[attr-defined]
    out = post_json(page, "api/settings", fields(db, action="test")).json()
    assert out["ok"] and not out["saved"]
    assert not rig.file.exists()  # type: ignore[attr-defined]


def test_settings_invalid_values_are_shown_not_checked(form_page: tuple[TodayPage, object]) -> None:
    page, rig = form_page
    out = post_json(page, "api/settings", {"action": "save", "connection": {"port": "70000"}, "password": "x"}).json()
    assert not out["ok"] and "must be between 1 and 65535" in out["lines"][0]
    out = post_json(page, "api/settings", {"action": "save", "connection": {"sslmode": "maybe"}}).json()
    assert not out["ok"] and "verify-full" in out["lines"][0]
    assert post_json(page, "api/settings", {"action": "delete"}).status == 400
    assert not rig.file.exists()  # type: ignore[attr-defined]


def test_desk_page_reads_the_server_a_save_reloads_the_agent_and_clicks_run(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """agent/web/desk_page.py as the tray composition calls it: table rows, the click action with the current
    template, a settings save -> the page follows the new settings and the agent reloads."""
    import dataclasses

    from web_support import insert_at

    from agent.db.connect import connection_kwargs
    from agent.web.desk_page import start_for_desk

    monkeypatch.setenv("AVISO_CONFIG_FILE", str(tmp_path / "config.toml"))
    monkeypatch.setenv("AVISO_MACHINE_CONFIG_FILE", str(tmp_path / "machine.toml"))
    monkeypatch.setenv("AVISO_CREDENTIALS", "memory")
    monkeypatch.setenv("AVISO_AUTOSTART", "memory")
    ids = insert_at(db, [(2, dt.datetime.now().astimezone(), "permitido")])
    reloads: list[bool] = []
    clicks: list[tuple[str, int | str]] = []
    base = config.Settings()
    settings = dataclasses.replace(
        base, notifications=dataclasses.replace(base.notifications, click_action="https://gym.example/m/{id_miembro}")
    )
    page = start_for_desk(
        lang="es",
        settings=settings,
        connect_kwargs=connection_kwargs(db.server.dsn(dbname=db.name, user="pos_user"), password=db.pos_password),
        reload_settings=lambda: reloads.append(True),
        run_click=lambda template, member: clicks.append((template, member)),
    )
    assert page is not None
    try:
        rows = request(page, "GET", "api/today").json()["rows"]
        assert [r["id"] for r in rows] == ids and "VENCIDA" in rows[0]["status"]
        assert post_json(page, "api/click", {"member": "2"}).json() == {"ok": True, "message": ""}
        assert clicks == [("https://gym.example/m/{id_miembro}", 2)]
        out = post_json(page, "api/settings", fields(db, action="save", password=db.pos_password)).json()
        assert out["saved"], out
        assert reloads == [True]
        assert page.options.settings is not None and page.options.settings.connection.database == db.name
        assert request(page, "GET", "api/settings").json()["password_stored"] is True
        assert [r["id"] for r in request(page, "GET", "api/today").json()["rows"]] == ids  # the new reader works
    finally:
        page.close()


def test_new_configuration_tls_default_is_configures() -> None:
    from agent.cli import deploy
    from agent.web import settings_form

    assert settings_form.NEW_CONFIG_SSLMODE == deploy.NEW_CONFIG_SSLMODE


def test_settings_needing_tls_on_a_server_without_it_save_nothing(
    form_page: tuple[TodayPage, object], db: Database
) -> None:
    page, rig = form_page
    body = fields(db, action="save", password=db.pos_password)
    body["connection"]["sslmode"] = "require"  # type: ignore[index]
    out = post_json(page, "api/settings", body).json()
    assert not out["saved"] and any("SSL" in line for line in out["lines"]), out
    assert not rig.file.exists()  # type: ignore[attr-defined]
