"""The bounded photo GET (agent/photos/http_get.py) against a real HTTP(S) server on 127.0.0.1."""

from __future__ import annotations

import base64
import shutil
import ssl
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from agent.photos.http_get import MAX_REDIRECTS, USER_AGENT, Fetcher, FetchError, parse_target, redacted
from tests.photo_server import JPEG, PhotoHttpServer, make_tls_files, photo_server, silent_server

CAP = 1_000_000


@pytest.fixture
def server() -> Iterator[PhotoHttpServer]:
    with photo_server() as s:
        yield s


def _get(url: str, timeout_s: float = 5.0, max_bytes: int = CAP, **kw: object) -> bytes:
    return Fetcher(**kw).get(url, max_bytes=max_bytes, timeout_s=timeout_s)  # type: ignore[arg-type]


def _fails(url: str, reason: str, **kw: object) -> float:
    """Seconds until the fetch of ``url`` failed with ``reason``."""
    start = time.monotonic()
    with pytest.raises(FetchError) as err:
        _get(url, **kw)  # type: ignore[arg-type]
    assert err.value.reason == reason, err.value
    return time.monotonic() - start


def test_a_jpeg_is_fetched_with_the_apps_user_agent(server: PhotoHttpServer) -> None:
    assert _get(server.url("/ok.jpg")) == JPEG
    (headers,) = server.hits("/ok.jpg")
    assert headers["User-Agent"] == USER_AGENT and "Aviso" in USER_AGENT
    assert "Authorization" not in headers


def test_404_is_an_error(server: PhotoHttpServer) -> None:
    _fails(server.url("/missing.jpg"), "http 404")


def test_never_answering_server_is_bounded_by_the_deadline() -> None:
    with silent_server() as base:
        took = _fails(base + "/x.jpg", "timeout", timeout_s=0.5)
    assert 0.45 <= took < 1.5


def test_trickling_server_is_bounded_by_the_whole_deadline_not_per_read(server: PhotoHttpServer) -> None:
    # One byte every 0.2 s: each read alone is within any per-read timeout; the total deadline still holds.
    took = _fails(server.url("/trickle"), "timeout", timeout_s=0.7)
    assert took < 1.5


def test_slow_server_past_the_deadline_times_out_and_within_it_succeeds(server: PhotoHttpServer) -> None:
    server.slow_s = 0.6
    _fails(server.url("/slow.jpg"), "timeout", timeout_s=0.3)
    assert _get(server.url("/slow.jpg"), timeout_s=3) == JPEG


def test_content_length_over_the_cap_is_refused_before_reading(server: PhotoHttpServer) -> None:
    took = _fails(server.url("/huge-cl"), "too large")
    assert took < 2.0


def test_body_without_length_stops_at_the_cap(server: PhotoHttpServer) -> None:
    took = _fails(server.url("/huge"), "too large", max_bytes=200_000)
    assert took < 3.0
    time.sleep(0.2)
    # The client hung up soon after the cap: the server could not push the whole 128 MB.
    assert server.huge_sent < 50_000_000


def test_redirects_are_followed_up_to_the_bound(server: PhotoHttpServer) -> None:
    assert _get(server.url(f"/hop/{MAX_REDIRECTS}")) == JPEG
    _fails(server.url(f"/hop/{MAX_REDIRECTS + 1}"), "redirects")


def test_redirect_loop_ends(server: PhotoHttpServer) -> None:
    took = _fails(server.url("/loop"), "redirects")
    assert took < 2 and len(server.hits("/loop")) == MAX_REDIRECTS + 1


def test_redirect_to_a_non_http_scheme_is_refused(server: PhotoHttpServer) -> None:
    _fails(server.url("/to?u=" + quote("file:///etc/passwd")), "scheme")


def test_non_http_urls_are_refused_without_a_request() -> None:
    for url in ("ftp://127.0.0.1/x.jpg", "file:///etc/hosts", "javascript:alert(1)", "http:///nohost"):
        with pytest.raises(FetchError) as err:
            parse_target(url)
        assert err.value.reason == "scheme"


def test_url_credentials_go_as_basic_auth_to_the_same_host_only(server: PhotoHttpServer) -> None:
    with photo_server() as other:
        # 127.0.0.1 -> localhost: another host name (another origin) even though it is the same machine.
        elsewhere = other.url("/auth.jpg", host="localhost")
        creds_url = server.url("/to?u=" + quote(elsewhere)).replace("http://", "http://gym:s3cr%40t@")
        assert _get(creds_url) == JPEG
        (first,) = server.hits("/to")
        assert first["Authorization"] == "Basic " + base64.b64encode(b"gym:s3cr@t").decode()
        (second,) = other.hits("/auth.jpg")
        assert "Authorization" not in second
        # A redirect within the origin keeps them.
        same = server.url("/to?u=" + quote("/auth.jpg")).replace("http://", "http://gym:pw@")
        assert _get(same) == JPEG
        assert server.hits("/auth.jpg")[-1]["Authorization"] == "Basic " + base64.b64encode(b"gym:pw").decode()


def test_configured_auth_header_is_dropped_on_a_redirect_to_another_host(server: PhotoHttpServer) -> None:
    with photo_server() as other:
        url = server.url("/to?u=" + quote(other.url("/auth.jpg", host="localhost")))
        assert Fetcher().get(url, max_bytes=CAP, timeout_s=5, auth_header="Bearer t0ken") == JPEG
        assert server.hits("/to")[0]["Authorization"] == "Bearer t0ken"
        assert "Authorization" not in other.hits("/auth.jpg")[0]


def test_redacted_urls_carry_no_credentials_or_query() -> None:
    assert redacted("https://u:pw@fotos.gym.es:8443/a/b.jpg?token=x#f") == "https://fotos.gym.es:8443/a/b.jpg"


@pytest.fixture(scope="module")
def tls_files() -> Iterator[tuple[Path, Path, Path]]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not found")
    workdir = Path(tempfile.mkdtemp(prefix="aviso-photo-tls-"))
    try:
        yield make_tls_files(workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_https_with_an_unknown_ca_is_refused_and_accepted_with_the_ca_injected(
    tls_files: tuple[Path, Path, Path],
) -> None:
    ca, cert, key = tls_files
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    with photo_server(tls=server_ctx) as server:
        url = server.url("/ok.jpg", host="localhost")
        _fails(url, "tls")
        trusting = ssl.create_default_context(cafile=str(ca))
        assert _get(url, ssl_context=trusting) == JPEG
        # The name is still checked: the certificate names localhost, not 127.0.0.1.
        _fails(server.url("/ok.jpg", host="127.0.0.1"), "tls", ssl_context=trusting)
        assert len(server.hits("/ok.jpg")) == 1
