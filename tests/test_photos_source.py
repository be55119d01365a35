"""The photo source the desk uses (agent/photos/source.py: ``Photos``) against a real HTTP server on 127.0.0.1:
budget vs. background caching, negative cache, log once per host, bytea, local files, close(), the demo server."""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from agent.core.config import PhotoSettings
from agent.core.model import Member
from agent.db import demo_data
from agent.photos.demo_server import DemoPhotoServer
from agent.photos.source import Photos
from tests.photo_server import PhotoHttpServer, photo_server, rotated_jpeg, silent_server

BUDGET_S = 0.3


class Done:
    """A ``done`` callback that records its calls and the thread they came on."""

    def __init__(self) -> None:
        self.calls: list[Path | None] = []
        self.threads: list[str] = []
        self.event = threading.Event()

    def __call__(self, path: Path | None) -> None:
        self.calls.append(path)
        self.threads.append(threading.current_thread().name)
        self.event.set()

    def wait(self, timeout: float) -> bool:
        return self.event.wait(timeout)


@pytest.fixture
def server() -> Iterator[PhotoHttpServer]:
    with photo_server() as s:
        yield s


@pytest.fixture
def clock() -> list[float]:
    return [1000.0]


@pytest.fixture
def photos(tmp_path: Path, clock: list[float]) -> Iterator[Photos]:
    p = Photos(PhotoSettings(max_bytes=200_000), folder=tmp_path / "cache", timeout_s=2.0, clock=lambda: clock[0])
    yield p
    p.close()


def _member(url: str | None = None, member_id: int = 1, data: bytes | None = None) -> Member:
    return Member(member_id, "Lucía", "Fernández", photo_url=url, photo_data=data)


def _is_thumb(path: Path | None) -> bool:
    assert path is not None and path.is_file()
    with Image.open(path) as img:
        return img.format == "PNG" and img.size == (128, 128)


def test_http_photo_is_fetched_off_the_callers_thread_and_cached(photos: Photos, server: PhotoHttpServer) -> None:
    m = _member(server.url("/ok.jpg"))
    assert photos.cached(m) is None and photos.needs_fetch(m)
    done = Done()
    photos.fetch(m, done)
    assert done.wait(5)
    time.sleep(0.05)
    assert len(done.calls) == 1 and _is_thumb(done.calls[0])
    assert done.threads[0].startswith("photos") and done.threads[0] != threading.current_thread().name
    assert photos.cached(m) == done.calls[0] and not photos.needs_fetch(m)
    assert Path(done.calls[0]).parent == photos.cache.folder  # type: ignore[arg-type]
    # A changed URL is another file: fetched again.
    moved = _member(server.url("/auth.jpg"))
    assert photos.cached(moved) is None and photos.needs_fetch(moved)


def test_slow_photo_misses_the_budget_but_is_cached_for_next_time(photos: Photos, server: PhotoHttpServer) -> None:
    server.slow_s = 0.8
    m = _member(server.url("/slow.jpg"))
    done = Done()
    start = time.monotonic()
    photos.fetch(m, done)
    assert time.monotonic() - start < 0.3  # fetch() only queues (the server answers after 0.8 s)
    assert not done.wait(BUDGET_S)  # what the desk sees: not ready within its budget -> notice without photo
    assert done.wait(3)
    assert _is_thumb(done.calls[0])
    assert photos.cached(m) == done.calls[0]  # the next entry of this member gets it at once


def test_never_answering_server_ends_with_none_at_the_hard_cap(photos: Photos) -> None:
    with silent_server() as base:
        m = _member(base + "/x.jpg")
        done = Done()
        start = time.monotonic()
        photos.fetch(m, done)
        assert done.wait(5)
        took = time.monotonic() - start
    assert done.calls == [None] and 1.9 <= took < 3.5  # timeout_s=2.0 in the fixture
    assert not photos.needs_fetch(m)  # remembered as failed: not fetched for every entry


@pytest.mark.parametrize("path", ["/404", "/page.html", "/huge-cl", "/huge", "/loop"])
def test_failures_give_none_and_are_not_fetched_again_for_a_while(
    photos: Photos, server: PhotoHttpServer, clock: list[float], path: str
) -> None:
    m = _member(server.url(path))
    done = Done()
    photos.fetch(m, done)
    assert done.wait(5) and done.calls == [None]
    assert photos.cached(m) is None and not photos.needs_fetch(m)
    hits = len(server.hits(path))
    again = Done()
    photos.fetch(m, again)  # the desk would not ask, but a fetch anyway answers at once from the negative cache
    assert again.wait(2) and again.calls == [None] and len(server.hits(path)) == hits
    clock[0] += 301  # past the negative cache's 5 minutes
    assert photos.needs_fetch(m)
    assert list(photos.cache.folder.glob("*.png")) == []  # nothing but real images is ever cached


def test_failures_are_logged_once_per_host_per_hour(
    photos: Photos, server: PhotoHttpServer, clock: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="agent.photos")

    def fail(member_id: int) -> None:
        done = Done()
        photos.fetch(_member(server.url(f"/missing-{member_id}.jpg"), member_id), done)
        assert done.wait(5) and done.calls == [None]

    for i in range(5):
        fail(i)
    assert len(caplog.records) == 1
    assert "127.0.0.1" in caplog.text and "http 404" in caplog.text and "missing-" not in caplog.text
    clock[0] += 3601
    fail(99)
    assert len(caplog.records) == 2


def test_concurrent_fetches_of_one_photo_share_one_download(photos: Photos, server: PhotoHttpServer) -> None:
    server.slow_s = 0.4
    m = _member(server.url("/slow.jpg"))
    dones = [Done() for _ in range(4)]
    for d in dones:
        photos.fetch(m, d)
    for d in dones:
        assert d.wait(5)
    time.sleep(0.1)
    assert [len(d.calls) for d in dones] == [1, 1, 1, 1]
    assert len({d.calls[0] for d in dones}) == 1 and len(server.hits("/slow.jpg")) == 1


def test_a_raising_done_does_not_break_the_pool(photos: Photos, server: PhotoHttpServer) -> None:
    def boom(path: Path | None) -> None:
        raise RuntimeError("caller bug")

    photos.fetch(_member(server.url("/ok.jpg")), boom)
    done = Done()
    photos.fetch(_member(server.url("/auth.jpg"), 2), done)
    assert done.wait(5) and _is_thumb(done.calls[0])


def test_bytea_photo_is_thumbnailed_without_network(photos: Photos) -> None:
    m = _member("https://unreachable.invalid/1.jpg", data=rotated_jpeg())
    assert photos.cached(m) is None and photos.needs_fetch(m)
    done = Done()
    photos.fetch(m, done)
    assert done.wait(5) and _is_thumb(done.calls[0])
    with Image.open(done.calls[0]) as img:  # type: ignore[arg-type]
        top = img.convert("RGB").getpixel((64, 5))
    assert top[0] > 200 and top[2] < 60  # EXIF rotation applied: red on top
    assert photos.cached(m) == done.calls[0]
    changed = _member(data=rotated_jpeg(orientation=1))
    assert photos.cached(changed) is None and photos.needs_fetch(changed)
    bad = Done()
    photos.fetch(_member(data=b"not a picture"), bad)
    assert bad.wait(5) and bad.calls == [None]
    too_big = Done()
    photos.fetch(_member(data=rotated_jpeg() + b"\0" * 200_001, member_id=3), too_big)  # max_bytes=200_000 here
    assert too_big.wait(5) and too_big.calls == [None]


def test_local_files_are_returned_as_they_are(photos: Photos, tmp_path: Path) -> None:
    jpg = tmp_path / "foto 1.jpg"
    jpg.write_bytes(
        rotated_jpeg(orientation=1)
    )  # upright as stored (a sideways one is thumbnailed: test_photos_hostile)
    html = tmp_path / "x.jpg"
    html.write_bytes(b"<html></html>")
    for url in (str(jpg), jpg.as_uri()):
        m = _member(url)
        assert photos.cached(m) == jpg and not photos.needs_fetch(m)
    assert photos.cached(_member(str(html))) is None
    assert photos.cached(_member(str(tmp_path / "missing.jpg"))) is None
    done = Done()
    photos.fetch(_member(str(jpg)), done)
    assert done.wait(5) and done.calls == [jpg]


def test_no_photo_and_unsupported_schemes(photos: Photos) -> None:
    for url in (None, "", "ftp://x/1.jpg"):
        m = _member(url)
        assert photos.cached(m) is None and not photos.needs_fetch(m)
        done = Done()
        photos.fetch(m, done)
        assert done.wait(5) and done.calls == [None]


def test_close_is_prompt_even_with_a_fetch_hanging(tmp_path: Path) -> None:
    photos = Photos(PhotoSettings(), folder=tmp_path, timeout_s=30.0)
    with silent_server() as base:
        done = Done()
        photos.fetch(_member(base + "/x.jpg"), done)
        time.sleep(0.3)  # the request is on the wire, the server says nothing
        start = time.monotonic()
        photos.close()
        assert done.wait(2) and done.calls == [None]
        assert time.monotonic() - start < 1.5  # not the 30 s timeout
    late = Done()
    photos.fetch(_member("http://127.0.0.1:9/x.jpg", 2), late)  # after close: nothing queued
    assert not late.wait(0.2)


def test_cache_age_from_settings(tmp_path: Path, server: PhotoHttpServer) -> None:
    wall = [time.time()]
    photos = Photos(PhotoSettings(cache_max_age_days=1), folder=tmp_path, wall=lambda: wall[0])
    try:
        m = _member(server.url("/ok.jpg"))
        done = Done()
        photos.fetch(m, done)
        assert done.wait(5) and photos.cached(m) is not None
        wall[0] += 86400 + 60
        assert photos.cached(m) is None and photos.needs_fetch(m)
        again = Done()
        photos.fetch(m, again)
        assert again.wait(5) and again.calls[0] is not None and len(server.hits("/ok.jpg")) == 2
    finally:
        photos.close()


def test_demo_server_serves_distinct_avatars_for_the_demo_members(photos: Photos) -> None:
    people = demo_data.photo_people()
    assert "current3" not in people and len(people) == len(demo_data.MEMBERS) - 1
    server = DemoPhotoServer(people).start()
    try:
        thumbs = {}
        for i, m in enumerate(demo_data.MEMBERS):
            url = demo_data.photo_url(server.base_url, m)
            if url is None:
                continue
            assert url.startswith("http://127.0.0.1:") and url.endswith(f"/fotos/{m.key}.jpg")
            done = Done()
            photos.fetch(_member(url, i), done)
            assert done.wait(5) and done.calls[0] is not None, m.key
            thumbs[m.key] = done.calls[0].read_bytes()
        assert len(set(thumbs.values())) == len(people)  # distinct pictures
        with Image.open(io.BytesIO(thumbs["current"])) as img:
            assert img.size == (128, 128)
        assert server.requests == len(people)
    finally:
        server.stop()
    server.stop()  # idempotent
