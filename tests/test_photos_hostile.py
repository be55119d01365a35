"""Photos against what a real ``miembros.foto_url`` column and a hostile network can hold: URLs as people type
them (spaces, accents, Unicode hosts), URLs that cannot be parsed at all, local "files" that are FIFOs or
devices. Real HTTP server on 127.0.0.1 (tests/photo_server.py), real FIFOs."""

from __future__ import annotations

import errno
import io
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from agent.core.config import PhotoSettings
from agent.core.model import Member
from agent.photos.api import NoPhotos
from agent.photos.disk_cache import DiskCache, cache_key
from agent.photos.http_get import Fetcher, FetchError, keeps_credentials, parse_target, redacted
from agent.photos.share_read import _error as share_error
from agent.photos.share_read import is_share, read_share, share_host
from agent.photos.source import HOST_DOWN_S, REFRESH_S, Photos, classify
from agent.photos.thumbnail import NotAnImage, make_thumbnail
from tests.photo_server import JPEG, PhotoHttpServer, photo_server, rotated_jpeg, silent_server

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def server() -> Iterator[PhotoHttpServer]:
    with photo_server() as s:
        yield s


@pytest.fixture
def photos(tmp_path: Path) -> Iterator[Photos]:
    p = Photos(PhotoSettings(max_bytes=200_000), folder=tmp_path / "cache", timeout_s=2.0)
    yield p
    p.close()


def member(url: str, member_id: int = 7) -> Member:
    return Member(member_id=member_id, first_name="Ana", last_name="López", photo_url=url)


def test_spaces_and_accents_in_the_path_are_percent_encoded_like_a_browser(server: PhotoHttpServer) -> None:
    url = server.url("/fotos/José Pérez.jpg") + "?v=1 2&x=%41"
    assert Fetcher().get(url, max_bytes=1_000_000, timeout_s=5) == JPEG
    assert server.requests[-1][0] == "/fotos/Jos%C3%A9%20P%C3%A9rez.jpg"  # UTF-8, the way browsers send it
    assert parse_target(url).path.endswith("?v=1%202&x=%41")  # an existing escape is kept


def test_backslashes_from_windows_path_functions_are_slashes_like_in_a_browser(
    photos: Photos, server: PhotoHttpServer
) -> None:
    url = server.url("") + "\\fotos\\12.jpg"  # http://127.0.0.1:port\fotos\12.jpg
    done = threading.Event()
    got: list[Path | None] = []
    photos.fetch(member(url), lambda p: (got.append(p), done.set()))
    assert done.wait(5) and got[0] is not None
    assert server.requests[-1][0] == "/fotos/12.jpg"
    assert parse_target("http://h/a\\b.jpg?q=\\x").path == "/a/b.jpg?q=%5Cx"  # the query keeps its backslash


def test_a_unicode_host_goes_out_as_idna() -> None:
    assert parse_target("http://bücher.example/a.jpg").host == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    "url",
    ["http://[broken/x.jpg", "http://exa\x00mple/x.jpg", "http://a b/x.jpg", "http://h:99999/x.jpg"],
    ids=["bracket", "nul-host", "space-host", "bad-port"],
)
def test_an_unsendable_url_is_a_fetch_error_never_another_exception(url: str) -> None:
    with pytest.raises(FetchError) as err:
        Fetcher().get(url, max_bytes=1000, timeout_s=1)
    assert err.value.reason in ("url", "scheme")
    assert isinstance(redacted(url), str)  # redacted (for logs) never raises either


@pytest.mark.parametrize("url", ["http://[broken/x.jpg", "http://h:99999/x.jpg", "file:///tmp/[x", "ftp://[x"])
def test_the_photo_source_never_raises_for_what_the_column_holds(
    photos: Photos, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="agent.photos")
    m = member(url)
    assert photos.cached(m) is None  # the desk's thread: must not raise
    if photos.needs_fetch(m):
        done = threading.Event()
        got: list[Path | None] = []
        photos.fetch(m, lambda p: (got.append(p), done.set()))
        assert done.wait(5)
        assert got == [None]
        assert not photos.needs_fetch(m)  # remembered as failed: not fetched for every entry
    assert "unexpected error" not in caplog.text  # a data problem, not a bug: no traceback per entry


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_or_a_device_as_the_photo_never_blocks_the_desk(photos: Photos, tmp_path: Path) -> None:
    fifo = tmp_path / "foto.jpg"
    os.mkfifo(fifo)
    for target in (str(fifo), f"file://{fifo}", "/dev/zero", str(tmp_path)):
        result: list[Path | None] = []

        def look(where: str = target, out: list[Path | None] = result) -> None:
            out.append(photos.cached(member(where)))

        t = threading.Thread(target=look, daemon=True)
        started = time.monotonic()
        t.start()
        t.join(3)
        assert not t.is_alive(), f"cached() blocked on {target}"
        assert result == [None] and time.monotonic() - started < 3
    real = tmp_path / "real.jpg"
    real.write_bytes(rotated_jpeg(orientation=1))
    assert photos.cached(member(str(real))) == real


# -- the cache folder: nobody else may put a face there --------------------------------------------------------------
posix_owner = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs POSIX and root (chown)")
OTHER_UID = 65534  # nobody


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_an_open_cache_folder_of_ours_is_closed_to_0700_before_the_first_write(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    folder.chmod(0o777)
    cache = DiskCache(folder, max_age_s=100, max_bytes=10**6)
    cache.write(cache_key(1, "u"), b"png")
    assert folder.stat().st_mode & 0o777 == 0o700


def test_a_symlink_planted_in_the_cache_is_never_shown(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "photos", max_age_s=100, max_bytes=10**6)
    mine = cache.write(cache_key(1, "http://gym/1.jpg"), b"ana's face")
    key = cache_key(2, "http://gym/2.jpg")
    cache.path_for(key).symlink_to(mine)  # "member 2 has Ana's face"
    assert cache.fresh(key) is None
    os.link(mine, cache.path_for(cache_key(3, "http://gym/3.jpg")))  # a hard link: the same swap
    assert cache.fresh(cache_key(3, "http://gym/3.jpg")) is None
    assert cache.write(key, b"luis's face") == cache.path_for(key)  # the planted link is replaced, not followed
    assert mine.read_bytes() == b"ana's face" and cache.fresh(key) is not None


@posix_owner
def test_a_thumbnail_owned_by_another_user_is_never_shown(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "photos", max_age_s=100, max_bytes=10**6)
    path = cache.write(cache_key(1, "http://gym/1.jpg"), b"png")
    assert cache.fresh(cache_key(1, "http://gym/1.jpg")) == path
    os.chown(path, OTHER_UID, OTHER_UID)
    assert cache.fresh(cache_key(1, "http://gym/1.jpg")) is None


@posix_owner
def test_a_cache_folder_owned_by_another_user_is_not_used_and_the_log_says_why(
    tmp_path: Path, server: PhotoHttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    folder.chmod(0o777)
    os.chown(folder, OTHER_UID, OTHER_UID)
    planted = folder / (cache_key(7, server.url("/ok.jpg")) + ".png")
    planted.write_bytes(JPEG)  # even a file of ours in that folder: the folder is not trusted
    photos = Photos(PhotoSettings(max_bytes=200_000), folder=folder, timeout_s=2.0)
    try:
        m = member(server.url("/ok.jpg"))
        assert photos.cached(m) is None
        done = threading.Event()
        got: list[Path | None] = []
        photos.fetch(m, lambda p: (got.append(p), done.set()))
        assert done.wait(5) and got == [None]
    finally:
        photos.close()
    assert folder.stat().st_mode & 0o777 == 0o777  # someone else's folder: not ours to change
    assert "not this user's own folder" in caplog.text


# -- pictures that are cheap to send and dear to decode ---------------------------------------------------------------
def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), (10, 20, 30, 255)).save(out, format="PNG")
    return out.getvalue()


def test_a_big_png_under_the_jpeg_bound_is_refused_before_decoding() -> None:
    data = _png(6000, 6000)  # 36 MP in about 130 KB: a full decode took 1.8 s and 460 MB here
    assert len(data) < 500_000
    started = time.monotonic()
    with pytest.raises(NotAnImage, match="6000x6000"):
        make_thumbnail(data)
    assert time.monotonic() - started < 0.5
    assert len(make_thumbnail(_png(4000, 3000))) > 0  # a 12 MP picture still makes a thumbnail


@pytest.mark.skipif(sys.platform == "win32", reason="ru_maxrss")
def test_the_pool_never_decodes_several_big_pictures_at_once(tmp_path: Path) -> None:
    picture = tmp_path / "16mp.png"
    picture.write_bytes(_png(4600, 3450))  # just under MAX_PIXELS_FULL_DECODE
    code = (
        "import resource, sys, threading\n"
        "from agent.photos.thumbnail import make_thumbnail\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "threads = [threading.Thread(target=make_thumbnail, args=(data,)) for _ in range(3)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(picture)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0, out.stderr
    extra_mb = int(out.stdout.strip())
    # One such decode peaks at about 250 MB here; three at once (the pool's three threads) reached 735 MB.
    assert extra_mb < 450, f"three concurrent 16 MP decodes took {extra_mb} MB"


# -- a photo server that is down ---------------------------------------------------------------------------------------
def test_a_dead_photo_server_does_not_starve_the_queue_and_is_tried_again_later(
    tmp_path: Path, server: PhotoHttpServer
) -> None:
    jump = [0.0]
    photos = Photos(
        PhotoSettings(max_bytes=200_000),
        folder=tmp_path / "cache",
        timeout_s=1.0,
        clock=lambda: time.monotonic() + jump[0],
    )
    try:
        with silent_server() as dead:
            for i in range(12):  # the gym's photo PC is off at opening time: twelve members walk in
                photos.fetch(member(f"{dead}/{i}.jpg", i), lambda p: None)
            done = threading.Event()
            got: list[Path | None] = []
            started = time.monotonic()
            photos.fetch(member(server.url("/ok.jpg"), 99), lambda p: (got.append(p), done.set()))
            assert done.wait(10) and got[0] is not None
            # Three 1 s timeouts, then the other nine skip: ~1 s, not the 4 s of twelve timeouts on three threads.
            assert time.monotonic() - started < 2.5
            assert not photos.needs_fetch(member(f"{dead}/new.jpg", 500))  # the desk need not wait for it
            jump[0] = HOST_DOWN_S + 1
            assert photos.needs_fetch(member(f"{dead}/new.jpg", 500))  # a minute later: asked again
    finally:
        photos.close()


def test_close_during_a_fetch_logs_no_photo_failure(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    photos = Photos(PhotoSettings(), folder=tmp_path / "cache", timeout_s=30.0)
    with silent_server() as base:
        done = threading.Event()
        photos.fetch(member(base + "/x.jpg"), lambda p: done.set())
        time.sleep(0.3)  # the request is on the wire
        photos.close()  # the desk quits
        assert done.wait(2)
    assert "unavailable" not in caplog.text  # before: "member photo from 127.0.0.1 unavailable (network: ...)"


# -- photos on a file share --------------------------------------------------------------------------------------------
def test_share_paths_are_told_from_local_ones() -> None:
    for share in ("\\\\srv\\fotos\\1.jpg", "//srv/fotos/1.jpg", "\\\\?\\UNC\\srv\\fotos\\1.jpg"):
        assert is_share(share) and share_host(share) == "srv", share
    for local in ("C:\\fotos\\1.jpg", "\\\\?\\C:\\fotos\\1.jpg", "\\\\.\\pipe\\x", "/srv/fotos/1.jpg", "///srv/1.jpg"):
        assert not is_share(local), local
    kind, path = classify(member("file://servidor/fotos/1.jpg"))
    assert kind == "share" and share_host(path) == "servidor"
    assert classify(member("\\\\Servidor\\fotos\\1.jpg"))[0] == "share"


def test_a_photo_on_a_share_is_read_on_the_pool_and_cached_never_on_the_desk_thread(
    photos: Photos, tmp_path: Path
) -> None:
    (tmp_path / "fotos").mkdir()
    (tmp_path / "fotos" / "12.jpg").write_bytes(JPEG)
    share_path = "/" + str(tmp_path / "fotos" / "12.jpg")  # "//tmp/...": the UNC form POSIX also opens
    m = member(share_path)
    assert photos.cached(m) is None  # the desk's thread does not stat a share (a switched-off server: 20 s+)
    assert photos.needs_fetch(m)
    done = threading.Event()
    got: list[tuple[Path | None, str]] = []
    photos.fetch(m, lambda p: (got.append((p, threading.current_thread().name)), done.set()))
    assert done.wait(5)
    ((thumb, thread),) = got
    assert thumb is not None and thumb.parent == photos.cache.folder and thread.startswith("photos")
    with Image.open(thumb) as img:
        assert img.size == (128, 128)  # the notifier gets a local thumbnail, never the share path
    assert photos.cached(m) == thumb and not photos.needs_fetch(m)


def test_a_missing_file_on_a_share_skips_that_photo_only(photos: Photos, tmp_path: Path) -> None:
    (tmp_path / "fotos").mkdir()
    (tmp_path / "fotos" / "ok.jpg").write_bytes(JPEG)
    missing = member("/" + str(tmp_path / "fotos" / "nadie.jpg"), 1)
    present = member("/" + str(tmp_path / "fotos" / "ok.jpg"), 2)
    for m, expect in ((missing, False), (present, True)):
        done = threading.Event()
        got: list[Path | None] = []
        photos.fetch(m, lambda p, got=got, done=done: (got.append(p), done.set()))
        assert done.wait(5) and (got[0] is not None) is expect
    assert not photos.needs_fetch(missing)  # remembered for a few minutes, not read for every entry


def test_share_errors_say_whether_the_server_or_the_file_is_missing(tmp_path: Path) -> None:
    with pytest.raises(FetchError) as err:
        read_share(str(tmp_path / "nothing.jpg"), 1000)
    assert err.value.reason == "missing"
    assert share_error(OSError(errno.EHOSTDOWN, "Host is down")).reason == "network"
    assert share_error(OSError(errno.EACCES, "Permission denied")).reason == "unreadable"
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff" * 2000)
    with pytest.raises(FetchError, match="too large"):
        read_share(str(big), 1000)
    with pytest.raises(FetchError) as err:
        read_share(str(tmp_path), 1000)
    assert err.value.reason == "unreadable"


def test_a_utf8_location_header_is_followed_as_a_browser_would(server: PhotoHttpServer) -> None:
    assert Fetcher().get(server.url("/to-utf8"), max_bytes=1_000_000, timeout_s=5) == JPEG
    assert server.requests[-1][0] == "/fotos/Jos%C3%A9%20N%C3%BA%C3%B1ez.jpg"  # not Jos%C3%83%C2%A9...


def _jpeg(width: int, height: int, fmt: str = "JPEG") -> bytes:
    out = io.BytesIO()
    picture = Image.new("RGB", (width, height), (180, 40, 40))
    if fmt == "MPO":  # a phone's multi-picture JPEG: the photo plus a second image
        picture.save(out, format="MPO", save_all=True, append_images=[Image.new("RGB", (width, height))])
    else:
        picture.save(out, format="JPEG")
    return out.getvalue()


def test_a_50_mp_phone_photo_is_thumbnailed_at_reduced_scale_jpeg_or_mpo() -> None:
    for fmt in ("JPEG", "MPO"):
        data = _jpeg(8160, 6120, fmt)  # a 50 MP phone photo (full-resolution mode)
        with Image.open(io.BytesIO(data)) as probe:
            assert probe.format == fmt
        with Image.open(io.BytesIO(make_thumbnail(data))) as thumb:
            centre = thumb.getpixel((64, 64))
            assert thumb.size == (128, 128) and all(
                abs(a - b) <= 4 for a, b in zip(centre[:3], (180, 40, 40), strict=True)
            )
    # A 12 MP MPO is decoded at 1/8 scale like a JPEG, not at full size like a PNG (it was 0.39 s, now ~0.05 s).
    data = _jpeg(4032, 3024, "MPO")
    started = time.monotonic()
    for _ in range(5):
        make_thumbnail(data)
    assert time.monotonic() - started < 1.0


def test_the_null_twin_keeps_the_ports_thread_promise() -> None:
    lock = threading.Lock()
    done = threading.Event()

    def on_photo(path: Path | None) -> None:
        with lock:  # the desk's done takes the lock it held while asking: fine only off the caller's thread
            done.set()

    def desk() -> None:
        with lock:
            NoPhotos().fetch(member("http://x/1.jpg"), on_photo)

    caller = threading.Thread(target=desk, daemon=True)
    caller.start()
    caller.join(2)
    assert not caller.is_alive(), "deadlock: done ran on the caller's thread"
    assert done.wait(2)


def test_credentials_survive_only_an_https_upgrade_of_the_same_host() -> None:
    http80 = ("http", "fotos.gym", 80)
    assert keeps_credentials(http80, http80)
    assert keeps_credentials(http80, ("https", "fotos.gym", 443))  # the server forces TLS: was a 401 before
    assert not keeps_credentials(http80, ("https", "otro.gym", 443))
    assert not keeps_credentials(http80, ("https", "fotos.gym", 8443))
    assert not keeps_credentials(("https", "fotos.gym", 443), ("http", "fotos.gym", 80))  # never a downgrade
    assert not keeps_credentials(("http", "fotos.gym", 8080), ("https", "fotos.gym", 443))


def test_a_pool_thread_stuck_where_close_cannot_reach_does_not_hold_the_exit() -> None:
    code = (
        "import sys, tempfile, threading, time\n"
        "from pathlib import Path\n"
        "from agent.core.config import PhotoSettings\n"
        "from agent.core.model import Member\n"
        "from agent.photos.source import Photos\n"
        "p = Photos(PhotoSettings(), folder=Path(tempfile.mkdtemp()))\n"
        "started = threading.Event()\n"
        "def stuck(path):  # stands for a DNS lookup or a share read that close() cannot wake\n"
        "    started.set(); time.sleep(60)\n"
        "p.fetch(Member(1, 'Ana', 'López', photo_data=sys.argv[1].encode()), stuck)\n"
        "assert started.wait(10)\n"
        "p.close()\n"
    )
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", code, "not a picture"], capture_output=True, text=True, cwd=ROOT, timeout=90
    )
    assert out.returncode == 0, out.stderr
    assert time.monotonic() - started < 10  # before: the exit waited the whole 60 s for the pool thread


def test_an_oversized_bytea_photo_costs_the_desk_thread_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    photos = Photos(PhotoSettings(max_bytes=5_000_000), folder=tmp_path / "cache")
    try:
        m = Member(member_id=3, first_name="Ana", last_name="López", photo_data=b"\xff" * 50_000_000)
        started = time.perf_counter()
        assert photos.cached(m) is None
        fetch = photos.needs_fetch(m)
        assert time.perf_counter() - started < 0.03  # before: two SHA-256 of 50 MB, ~110 ms, at every entry
        if fetch:
            done = threading.Event()
            photos.fetch(m, lambda p: done.set())
            assert done.wait(5)
            assert not photos.needs_fetch(m)
    finally:
        photos.close()
    assert "too large" in caplog.text


def test_with_no_cache_age_the_fetched_photo_still_reaches_the_notice(tmp_path: Path, server: PhotoHttpServer) -> None:
    photos = Photos(PhotoSettings(cache_max_age_days=0), folder=tmp_path / "cache", timeout_s=3)
    try:
        done = threading.Event()
        got: list[Path | None] = []
        photos.fetch(member(server.url("/ok.jpg")), lambda p: (got.append(p), done.set()))
        assert done.wait(5)
        assert got[0] is not None and got[0].is_file()  # before: trimmed as stale right after the write
    finally:
        photos.close()


def test_a_local_phone_photo_with_exif_rotation_reaches_the_notice_upright(photos: Photos, tmp_path: Path) -> None:
    local = tmp_path / "socio 12.jpg"
    local.write_bytes(rotated_jpeg())  # stored sideways (red left, blue right) with EXIF orientation 6
    m = member(str(local))
    assert photos.cached(m) is None  # before: the sideways file itself went to the notifier
    assert photos.needs_fetch(m)
    done = threading.Event()
    got: list[Path | None] = []
    photos.fetch(m, lambda p: (got.append(p), done.set()))
    assert done.wait(5) and got[0] is not None and got[0].parent == photos.cache.folder
    with Image.open(got[0]) as thumb:
        top, bottom = thumb.convert("RGB").getpixel((64, 10)), thumb.convert("RGB").getpixel((64, 118))
    assert top[0] > 200 > top[2] and bottom[2] > 200 > bottom[0]  # red on top, blue below: upright
    assert photos.cached(m) == got[0] and not photos.needs_fetch(m)
    upright = tmp_path / "socio 13.jpg"
    upright.write_bytes(rotated_jpeg(orientation=1))
    assert photos.cached(member(str(upright), 13)) == upright  # no rotation: still used as it is


def test_a_photo_retaken_at_the_same_url_replaces_the_cached_one_within_the_hour(
    tmp_path: Path, server: PhotoHttpServer
) -> None:
    def solid(colour: tuple[int, int, int]) -> bytes:
        out = io.BytesIO()
        Image.new("RGB", (200, 200), colour).save(out, format="JPEG")
        return out.getvalue()

    def centre(path: Path) -> tuple[int, ...]:
        with Image.open(path) as img:
            return tuple(img.convert("RGB").getpixel((64, 64)))

    later = [0.0]
    photos = Photos(PhotoSettings(), folder=tmp_path / "cache", timeout_s=3, wall=lambda: time.time() + later[0])
    try:
        server.mutable = solid((200, 0, 0))
        m = member(server.url("/mutable.jpg"))
        done = threading.Event()
        photos.fetch(m, lambda p: done.set())
        assert done.wait(5)
        first = photos.cached(m)
        assert first is not None and centre(first)[0] > 150
        server.mutable = solid((0, 200, 0))  # the desk retakes the member's photo: same URL (fotos/<id>.jpg)
        later[0] = REFRESH_S + 60  # an hour later, well inside the 7-day cache age
        assert photos.cached(m) == first  # this entry still shows the old one at once, and asks again
        wait_for = time.monotonic() + 5
        while centre(first)[1] < 150 and time.monotonic() < wait_for:
            time.sleep(0.05)
        assert centre(photos.cached(m) or first)[1] > 150  # before: the old face for up to 7 days
    finally:
        photos.close()


def test_an_unfetchable_url_is_not_waited_for_and_is_logged_once(
    photos: Photos, caplog: pytest.LogCaptureFixture
) -> None:
    for member_id in (1, 2, 3):
        assert not photos.needs_fetch(member("http://[roto/foto.jpg", member_id))  # the desk shows at once
    assert caplog.text.count("unavailable") == 1
