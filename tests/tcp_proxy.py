"""A loopback TCP proxy for chaos tests: forwards 127.0.0.1:<port> to a server, and can black-hole traffic.

``blackhole()`` stops moving bytes in both directions without closing any socket (like a NAT that forgot the
flow, a pulled cable or a sleeping laptop: no RST, no FIN), and leaves new connections hanging unanswered.
``recover()`` drops the black-holed connections silently and forwards again for new ones.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time


class TcpProxy:
    """Start with ``start()``; ``port`` is where clients connect. Stops with ``close()``."""

    def __init__(self, upstream_host: str, upstream_port: int, *, coalesce_s: float = 0.0) -> None:
        """``coalesce_s`` > 0: bytes from the server are held that long after the first of them and sent to the
        client in one piece, so messages the server sent separately arrive in one read (like a slow network)."""
        self.upstream = (upstream_host, upstream_port)
        self.coalesce_s = coalesce_s
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self._holed = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    def start(self) -> TcpProxy:
        self._thread.start()
        return self

    def blackhole(self) -> None:
        self._holed.set()

    def recover(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
            held, self._held = self._held, []
        with self._lock:
            for a, b in pairs:
                self._held += [a, b]  # kept open: the far ends must find out by themselves
            self._held += held
        self._holed.clear()

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            for a, b in self._pairs:
                a.close()
                b.close()
            for s in self._held:
                s.close()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                r, _, _ = select.select([self._listener], [], [], 0.2)
                if not r:
                    continue
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._holed.is_set():
                with self._lock:
                    self._held.append(client)  # accepted by the kernel, never answered
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, server))
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    @staticmethod
    def _collect(sock: socket.socket, seconds: float) -> bytes:
        """Everything ``sock`` sends within ``seconds``."""
        out = b""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            r, _, _ = select.select([sock], [], [], left)
            if not r:
                break
            chunk = sock.recv(65536)
            if not chunk:
                break
            out += chunk
        return out

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        while not self._closed.is_set():
            if self._holed.is_set():
                self._closed.wait(0.1)
                with self._lock:
                    if (a, b) not in self._pairs:
                        return  # recovered: this pair stays dead
                continue
            try:
                r, _, _ = select.select([a, b], [], [], 0.1)
                if self._holed.is_set():
                    continue
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        raise OSError("closed")
                    if s is b and self.coalesce_s > 0:
                        data += self._collect(b, self.coalesce_s)
                    peers[s].sendall(data)
            except OSError:
                for s in (a, b):
                    with contextlib.suppress(OSError):
                        s.close()
                with self._lock:
                    if (a, b) in self._pairs:
                        self._pairs.remove((a, b))
                return
