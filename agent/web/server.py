"""HTTP for the local page: the standard library's ``ThreadingHTTPServer`` on 127.0.0.1, and its one handler.

Security model (docs/desk-page.md "Security"):

* bound to ``127.0.0.1`` only: nothing off the machine can connect;
* every path starts with the page's token (192 random bits, new at every start): another user of a shared PC
  cannot read member data without it; a wrong or missing token gets ``404``, like any unknown path;
* the ``Host`` header must be ``127.0.0.1:<port>`` or ``localhost:<port>`` (``403`` otherwise), which defeats DNS
  rebinding;
* state changes are ``POST`` only, with ``Content-Type: application/json`` (a cross-site form cannot send it
  without a CORS preflight, which is never granted), an ``Origin`` equal to the page's own (``403`` otherwise;
  ``Sec-Fetch-Site`` other than ``same-origin`` too), and a body of at most 64 KB; ``GET`` never changes state;
* responses carry ``Cache-Control: no-store``, ``Referrer-Policy: no-referrer`` (the token never leaks in a
  Referer), a strict Content-Security-Policy (own scripts only, no inline script, ``form-action 'none'`` so a form
  can never be submitted natively, i.e. never as a ``GET`` with the password in the URL) and ``frame-ancestors
  'none'``;
* request lines are logged at DEBUG with the token replaced by ``<token>``; bodies are never logged.

Routes under ``/<token>/``: ``GET`` ``""`` (the page), ``page.css``, ``page.js``, ``api/today`` (rows and the
day's start, JSON), ``events`` (Server-Sent Events: ``event: entry`` rows, heartbeats), ``photo/<member>`` (the
cached thumbnail), ``api/settings`` (form values, no password); ``POST`` ``api/click`` (``{"member": id}``),
``api/settings`` (``{"action": "test"|"save", ...}``), ``api/close``.

Threads: one daemon thread per request (``ThreadingHTTPServer``); live connections hold theirs while open.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import queue
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from agent.core.i18n import MESSAGES, tr
from agent.web.page import HEARTBEAT_S, PageOptions, TodayPage

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
MAX_BODY = 64 * 1024
MAX_PHOTO = 5_000_000
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)


class PageServer(ThreadingHTTPServer):
    """The server of one :class:`~agent.web.page.TodayPage`; request threads are daemons."""

    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, address: tuple[str, int], page: TodayPage) -> None:
        self.page = page
        super().__init__(address, Handler)


class Handler(BaseHTTPRequestHandler):
    server: PageServer
    server_version = "AvisoEntradas"
    sys_version = ""

    # -- plumbing ----------------------------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:
        text = format % args
        log.debug("%s", text.replace(self.server.page.token, "<token>"))

    def _headers(self, status: int, content_type: str, length: int | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Content-Security-Policy", CSP)
        self.end_headers()

    def _send(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        self._headers(status, content_type, len(body))
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, data: Any, status: int = 200) -> None:
        self._send(status, json.dumps(data, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")

    def _fail(self, status: HTTPStatus) -> None:
        self._send(status, f"{status.value} {status.phrase}\n".encode())

    def _route(self) -> tuple[str, dict[str, list[str]]] | None:
        """The path after ``/<token>/`` and the query, or None after answering 403/404."""
        page = self.server.page
        host = self.headers.get("Host", "")
        if host not in (f"127.0.0.1:{page.port}", f"localhost:{page.port}"):
            self._fail(HTTPStatus.FORBIDDEN)
            return None
        parts = urlsplit(self.path)
        token, _, rest = parts.path.lstrip("/").partition("/")
        if not hmac.compare_digest(token.encode(), page.token.encode()) or page.closed.is_set():
            self._fail(HTTPStatus.NOT_FOUND)
            return None
        return rest, parse_qs(parts.query)

    def _barrier(self, handle: Callable[[], None]) -> None:
        """The request's one exception barrier: a failure is logged with its traceback and answered with 500."""
        try:
            handle()
        except OSError:  # the browser went away mid-answer
            log.debug("connection closed while answering", exc_info=True)
        except Exception:
            log.exception("local page request failed")
            with contextlib.suppress(Exception):
                self._fail(HTTPStatus.INTERNAL_SERVER_ERROR)

    def do_GET(self) -> None:
        self._barrier(self._get)

    def do_POST(self) -> None:
        self._barrier(self._post)

    # -- GET ---------------------------------------------------------------------------------------------------
    def _get(self) -> None:
        routed = self._route()
        if routed is None:
            return
        rest, _query = routed
        page = self.server.page
        if rest == "":
            self._send(200, self._page_html().encode("utf-8"), "text/html; charset=utf-8")
        elif rest in ("page.css", "page.js"):
            kind = "text/css" if rest.endswith(".css") else "text/javascript"
            self._send(200, (STATIC / rest).read_bytes(), kind + "; charset=utf-8")
        elif rest == "api/today":
            rows, ok = page.today_rows()
            self._json({"rows": rows, "db_ok": ok, "day_start": page.day_start().isoformat()})
        elif rest == "events":
            self._events()
        elif rest.startswith("photo/"):
            self._photo(unquote(rest[len("photo/") :]))
        elif rest == "api/settings" and page.options.settings_form is not None:
            self._json(page.options.settings_form.view())
        else:
            self._fail(HTTPStatus.NOT_FOUND)

    def _page_html(self) -> str:
        page = self.server.page
        lang = page.options.lang  # one language per page: rows, check results and labels all in the agent's
        # templates as they are: the script fills their {fields}
        texts = {k[len("web.page.") :]: v.get(lang, v["es"]) for k, v in MESSAGES.items() if k.startswith("web.page.")}
        for name in ("host", "port", "database", "user", "channel", "sslmode", "sslrootcert"):
            texts[f"label_{name}"] = tr(f"configure.label.{name}", lang)
        texts.update(
            password=tr("settings.password", lang),
            test=tr("settings.test", lang),
            save=tr("settings.save", lang),
            autostart=tr("settings.autostart", lang),
        )
        cfg = {"lang": lang, "texts": texts, "settings": page.options.settings_form is not None}
        cfg["standalone"] = page.options.standalone
        # Inert JSON for the script (CSP allows no inline script); "<" escaped so no text can close the element.
        data = json.dumps(cfg, ensure_ascii=False).replace("<", "\\u003c")
        html = (STATIC / "page.html").read_text(encoding="utf-8")
        return html.replace("{{lang}}", lang).replace("{{title}}", texts["title"]).replace("{{config}}", data)

    def _events(self) -> None:
        page = self.server.page
        client = page.add_client()
        if client is None:
            self.send_response(HTTPStatus.SERVICE_UNAVAILABLE)
            self.send_header("Retry-After", "10")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        try:
            self._headers(200, "text/event-stream; charset=utf-8", None)
            self.wfile.write(b"retry: 3000\n: connected\n\n")
            self.wfile.flush()
            while True:
                try:
                    frame = client.frames.get(timeout=page.heartbeat_s)
                except queue.Empty:
                    frame = ": heartbeat\n\n"
                if frame is None:
                    break
                self.wfile.write(frame.encode("utf-8"))
                self.wfile.flush()
        except OSError:  # the browser went away (tab closed, reload)
            pass
        finally:
            page.remove_client(client)

    def _photo(self, key: str) -> None:
        page = self.server.page
        member = page.member(key)
        path = None
        if member is not None:
            try:
                path = page.photos.cached(member)
            except Exception:
                log.debug("photo lookup failed for member %s", key, exc_info=True)
        kind = IMAGE_TYPES.get(path.suffix.lower()) if path is not None else None
        if path is None or kind is None:
            self._fail(HTTPStatus.NOT_FOUND)
            return
        try:
            if path.stat().st_size > MAX_PHOTO:
                raise OSError("too large")
            body = path.read_bytes()
        except OSError:
            self._fail(HTTPStatus.NOT_FOUND)
            return
        self._send(200, body, kind)

    # -- POST --------------------------------------------------------------------------------------------------
    def _post(self) -> None:
        routed = self._route()
        if routed is None:
            return
        body = self._checked_body()
        if body is None:
            return
        rest, _query = routed
        page = self.server.page
        form = page.options.settings_form
        if rest == "api/click":
            self._click(body)
        elif rest == "api/settings" and form is not None:
            action = body.get("action")
            if action not in ("test", "save"):
                self._fail(HTTPStatus.BAD_REQUEST)
                return
            self._json(form.submit(body, save=action == "save"))
        elif rest == "api/close":
            if page.options.standalone:
                page.closed.set()
            self._json({"ok": True})
        else:
            self._fail(HTTPStatus.NOT_FOUND)

    def _checked_body(self) -> dict[str, Any] | None:
        """The JSON object of a same-origin request, or None after answering 403/411/413/415/400."""
        host = self.headers.get("Host", "")
        origin = self.headers.get("Origin")
        fetch_site = self.headers.get("Sec-Fetch-Site")
        if origin != f"http://{host}" or (fetch_site is not None and fetch_site != "same-origin"):
            self._fail(HTTPStatus.FORBIDDEN)
            return None
        if self.headers.get("Content-Type", "").split(";")[0].strip().lower() != "application/json":
            self._fail(HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
            return None
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._fail(HTTPStatus.LENGTH_REQUIRED)
            return None
        if length < 0 or length > MAX_BODY:
            self._fail(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            return None
        try:
            data = json.loads(self.rfile.read(length).decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            data = None
        if not isinstance(data, dict):
            self._fail(HTTPStatus.BAD_REQUEST)
            return None
        return data

    def _click(self, body: dict[str, Any]) -> None:
        page = self.server.page
        key = body.get("member")
        member = page.member(key) if isinstance(key, str) else None
        if member is None:
            self._fail(HTTPStatus.NOT_FOUND)
            return
        click = page.options.click
        ran = False
        if click is not None:
            try:
                ran = bool(click(member.member_id))
            except Exception as exc:  # the action could not start: say so on the page
                log.warning("click action failed: %s", type(exc).__name__)
                self._json({"ok": False, "message": tr("web.page.failed", page.options.lang, detail=str(exc))})
                return
        message = "" if ran else tr("web.page.click_none", page.options.lang)
        self._json({"ok": ran, "message": message})


def start_page(options: PageOptions, *, port: int = 0, heartbeat_s: float = HEARTBEAT_S) -> TodayPage:
    """Serve a new page on ``127.0.0.1:port`` (0: a free port) and return it (``.url``, ``.publish``, ``.close``).
    Raises ``OSError`` when the port cannot be bound. Any thread."""
    page = TodayPage(options, heartbeat_s=heartbeat_s)
    server = PageServer(("127.0.0.1", port), page)

    def serve() -> None:
        try:
            server.serve_forever(poll_interval=0.5)
        except Exception:  # the page's one exception barrier: the agent goes on without its page
            log.exception("the local page stopped")

    thread = threading.Thread(target=serve, name="aviso-web", daemon=True)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=2.0)

    host, bound_port = server.server_address[:2]
    page.attach((str(host), int(bound_port)), stop)
    thread.start()
    log.info("local page served on 127.0.0.1:%d", page.port)
    return page
