"""A tiny DNS server on UDP port 53 of a loopback address, for a process whose ``/etc/resolv.conf`` points at it.

Modes: ``answer`` (A queries for ``names`` get 127.0.0.1, everything else NXDOMAIN/empty) and ``hang`` (queries
are read and never answered: glibc's resolver then waits ``options timeout`` seconds). Used by
``tests/engine_dns_scenario.py``, which runs in a private mount namespace (``unshare -m``) where
``/etc/resolv.conf`` is bind-mounted over, so nothing else on the machine sees it.
"""

from __future__ import annotations

import socket
import struct
import threading

RESOLV_CONF = "nameserver {address}\noptions timeout:30 attempts:1\n"


class FakeDns:
    """See the module docstring. ``queries`` counts what arrived (any mode)."""

    def __init__(self, address: str, names: set[str]) -> None:
        self.address = address
        self.names = {n.lower().rstrip(".") for n in names}
        self.mode = "answer"
        self.queries = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((address, 53))
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._sock.close()

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self._sock.recvfrom(512)
            except OSError:
                return
            self.queries += 1
            if self.mode == "hang" or len(data) < 12:
                continue
            reply = self._reply(data)
            if reply:
                self._sock.sendto(reply, peer)

    def _reply(self, query: bytes) -> bytes:
        (qid,) = struct.unpack("!H", query[:2])
        pos, labels = 12, []
        while query[pos]:
            n = query[pos]
            labels.append(query[pos + 1 : pos + 1 + n].decode("ascii", "replace"))
            pos += 1 + n
        qtype, _qclass = struct.unpack("!HH", query[pos + 1 : pos + 5])
        question = query[12 : pos + 5]
        name = ".".join(labels).lower()
        if name not in self.names:
            return struct.pack("!HHHHHH", qid, 0x8183, 1, 0, 0, 0) + question  # NXDOMAIN
        if qtype != 1:  # AAAA and the rest: the name exists, no such record
            return struct.pack("!HHHHHH", qid, 0x8180, 1, 0, 0, 0) + question
        answer = struct.pack("!HHHIH", 0xC00C, 1, 1, 5, 4) + socket.inet_aton("127.0.0.1")
        return struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + question + answer
