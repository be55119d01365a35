"""Pure and disk parts of the photo source: the thumbnailer, the log limiter, the negative cache, the disk cache
bounds, and how a ``foto_url`` is classified."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from agent.core.model import Member
from agent.photos.disk_cache import DiskCache, cache_key
from agent.photos.ratelimit import LogLimiter, NegativeCache
from agent.photos.source import classify
from agent.photos.thumbnail import SIZE_PX, NotAnImage, make_thumbnail
from tests.photo_server import rotated_jpeg


def _colour_at(png: bytes, x: int, y: int) -> tuple[int, ...]:
    with Image.open(io.BytesIO(png)) as img:
        return tuple(img.convert("RGB").getpixel((x, y)))  # type: ignore[arg-type]


def _near(colour: tuple[int, ...], want: tuple[int, int, int]) -> bool:
    return all(abs(a - b) < 40 for a, b in zip(colour, want, strict=True))


def test_thumbnail_applies_exif_rotation_and_is_a_small_square_png() -> None:
    png = make_thumbnail(rotated_jpeg(orientation=6))
    with Image.open(io.BytesIO(png)) as img:
        assert img.format == "PNG" and img.size == (SIZE_PX, SIZE_PX)
        assert not img.getexif()  # no metadata carried over
    # Stored: red left, blue right; orientation 6 turns it clockwise: red on top, blue below.
    assert _near(_colour_at(png, SIZE_PX // 2, 5), (255, 0, 0))
    assert _near(_colour_at(png, SIZE_PX // 2, SIZE_PX - 6), (0, 0, 255))
    # Without the tag the same picture stays red left, blue right (the check above can fail).
    plain = make_thumbnail(rotated_jpeg(orientation=1))
    assert _near(_colour_at(plain, 5, SIZE_PX // 2), (255, 0, 0))
    assert _near(_colour_at(plain, SIZE_PX - 6, SIZE_PX // 2), (0, 0, 255))


@pytest.mark.parametrize(
    "data",
    [b"", b"<!doctype html><html></html>", rotated_jpeg()[:300], b"GIF89a" + b"\x00" * 10, b"%PDF-1.4 ..."],
    ids=["empty", "html", "truncated-jpeg", "broken-gif", "pdf"],
)
def test_not_an_image_is_refused(data: bytes) -> None:
    with pytest.raises(NotAnImage):
        make_thumbnail(data)


def test_decompression_bomb_is_refused() -> None:
    out = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(out, format="PNG")  # 100 Mpixel in ~20 KB
    assert len(out.getvalue()) < 200_000
    with pytest.raises(NotAnImage):
        make_thumbnail(out.getvalue())


def test_png_with_transparency_and_palette_gif_are_accepted() -> None:
    for fmt, mode in (("PNG", "RGBA"), ("GIF", "P"), ("WEBP", "RGB")):
        out = io.BytesIO()
        Image.new(mode, (50, 80)).save(out, format=fmt)
        assert Image.open(io.BytesIO(make_thumbnail(out.getvalue()))).size == (SIZE_PX, SIZE_PX)


def test_log_limiter_allows_once_per_host_per_interval() -> None:
    lim = LogLimiter(interval_s=3600)
    assert lim.allow("fotos.gym", 0.0)
    assert not lim.allow("fotos.gym", 10.0)
    assert lim.allow("other.gym", 10.0)
    assert not lim.allow("fotos.gym", 3599.0)
    assert lim.allow("fotos.gym", 3600.0)
    assert not lim.allow("fotos.gym", 3601.0)


@given(st.lists(st.tuples(st.sampled_from("abc"), st.floats(0, 100)), max_size=60))
def test_log_limiter_property(events: list[tuple[str, float]]) -> None:
    """For each host: allowed times are >= interval apart, and a time >= interval after the last allowed one is
    always allowed (times sorted, as a monotonic clock gives them)."""
    lim = LogLimiter(interval_s=10)
    last: dict[str, float] = {}
    for host, now in sorted(events, key=lambda e: e[1]):
        expected = host not in last or now - last[host] >= 10
        assert lim.allow(host, now) == expected
        if expected:
            last[host] = now


def test_log_limiter_memory_is_bounded() -> None:
    lim = LogLimiter(interval_s=10)
    for i in range(10_000):
        assert lim.allow(f"h{i}", float(i))
    assert len(lim._last) <= 4096


def test_negative_cache_expires() -> None:
    neg = NegativeCache(ttl_s=300)
    neg.failed("k", 100.0)
    assert neg.blocked("k", 399.0) and not neg.blocked("other", 399.0)
    assert not neg.blocked("k", 400.0)
    neg.failed("k", 500.0)
    neg.forget("k")
    assert not neg.blocked("k", 501.0)


def test_disk_cache_age_and_atomic_write(tmp_path: Path) -> None:
    now = [1_000_000.0]
    cache = DiskCache(tmp_path / "c", max_age_s=100, max_bytes=10_000_000, wall=lambda: now[0])
    key = cache_key(7, "http://x/7.jpg")
    assert cache.fresh(key) is None
    path = cache.write(key, b"png-bytes")
    os.utime(path, (now[0], now[0]))
    assert cache.fresh(key) == path and path.read_bytes() == b"png-bytes"
    assert [p.name for p in (tmp_path / "c").iterdir()] == [path.name]  # no temp file left behind
    now[0] += 99
    assert cache.fresh(key) == path
    now[0] += 1
    assert cache.fresh(key) is None
    assert cache.trim() == 1 and not path.exists()


def test_disk_cache_size_bound_removes_oldest_first(tmp_path: Path) -> None:
    now = 2_000_000.0
    cache = DiskCache(tmp_path, max_age_s=10**6, max_bytes=2500, wall=lambda: now)
    paths = []
    for i in range(5):
        p = cache.write(cache_key(i, "u"), b"x" * 1000)
        os.utime(p, (now - 100 + i, now - 100 + i))  # member 0 oldest
        paths.append(p)
    # Each write trims: the folder never holds more than 2500 bytes, the oldest files went first.
    assert [p.exists() for p in paths] == [False, False, False, True, True]
    assert cache.trim() == 0


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_disk_cache_files_are_private(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "photos", max_age_s=100, max_bytes=10**6)
    path = cache.write(cache_key(1, "u"), b"png")
    assert path.stat().st_mode & 0o077 == 0 and (tmp_path / "photos").stat().st_mode & 0o077 == 0


def test_disk_cache_removes_stale_temp_files_only(tmp_path: Path) -> None:
    now = 3_000_000.0
    cache = DiskCache(tmp_path, max_age_s=10**6, max_bytes=10**6, wall=lambda: now)
    old, new = tmp_path / ".tmp-old.png", tmp_path / ".tmp-new.png"
    for p, t in ((old, now - 7200), (new, now - 10)):
        p.write_bytes(b"t")
        os.utime(p, (t, t))
    cache.trim()
    assert not old.exists() and new.exists()


def test_cache_key_changes_with_the_url_and_the_member() -> None:
    assert cache_key(1, "http://a/1.jpg") != cache_key(1, "http://a/1b.jpg") != cache_key(2, "http://a/1b.jpg")
    assert cache_key(1, "u") != cache_key("1", "u")
    assert len(cache_key(1, "u")) == 40


def test_classify_foto_url_forms() -> None:
    def m(url: str | None, data: bytes | None = None) -> Member:
        return Member(1, "A", "B", photo_url=url, photo_data=data)

    assert classify(m("https://fotos.gym/1.jpg")) == ("http", "https://fotos.gym/1.jpg")
    assert classify(m(" http://fotos.gym/1.jpg ")) == ("http", "http://fotos.gym/1.jpg")
    assert classify(m("/srv/fotos/1.jpg")) == ("local", "/srv/fotos/1.jpg")
    assert classify(m("file:///srv/fotos/a%20b.jpg")) == ("local", "/srv/fotos/a b.jpg")
    assert classify(m("C:\\fotos\\1.jpg")) == ("local", "C:\\fotos\\1.jpg")
    assert classify(m("ftp://x/1.jpg")) == ("none", "")
    assert classify(m("")) == classify(m(None)) == ("none", "")
    assert classify(m("https://fotos.gym/1.jpg", data=b"\xff\xd8")) == ("data", "")


def test_demo_avatar_initials() -> None:
    from agent.photos.demo_server import avatar_jpeg, initials

    assert initials("Íñigo Zúñiga Peñalver") == "IP"
    assert initials("Begoña") == "B" and initials("  ") == "?"
    with Image.open(io.BytesIO(avatar_jpeg("Íñigo Zúñiga", "#d62728"))) as img:
        assert img.format == "JPEG" and img.size == (320, 320)
        colours = img.convert("RGB").getcolors(320 * 320)
        assert colours is not None and any(min(rgb) > 200 for _, rgb in colours)  # white initials drawn
