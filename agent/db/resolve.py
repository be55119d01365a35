"""Resolve the server's host name *before* libpq connects, in a helper thread, interruptibly.

Why: libpq resolves ``host`` with a blocking ``getaddrinfo`` inside ``PQconnectStart``/``PQconnectPoll`` even in
non-blocking mode (libpq docs, "Connecting": "PQconnectStartParams ... the hostaddr parameter must be used
appropriately to prevent DNS queries from being made"), and psycopg2 calls it holding the GIL: checked here with a
DNS server that never answers, a ``psycopg2.connect(..., async_=True)`` in one thread froze *every* thread of the
process (the tray, the desk loop) for the resolver's whole timeout. psycopg 3 does the same as this module for the
same reason (``psycopg/_conninfo_attempts.py``: "the libpq async function doesn't honour the timeout").

:func:`with_hostaddr` resolves ``host`` with :func:`socket.getaddrinfo` in a daemon thread (which releases the
GIL) while the caller waits on its :class:`agent.db.waiting.Waker`, and returns connection kwargs with
``host=name,name,...`` and ``hostaddr=ip1,ip2,...`` (libpq then tries each address in order, verifies TLS against
the name, and reports the name as the host). A lookup that never answers is abandoned after ``timeout_s`` (its
thread ends when the OS resolver gives up). Unchanged: no host, a socket directory, an IP literal, several hosts
or ports, or a ``hostaddr`` already given.

Which thread: the engine's worker.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

import psycopg2
from psycopg2.extensions import make_dsn, parse_dsn

from agent.db.waiting import Interrupted, Waker, wait_fds


class ResolveError(Exception):
    """The host name could not be resolved (or not within the time); ``str()`` says which host and why."""


def _needs_lookup(host: str) -> bool:
    if not host or "," in host or host.startswith(("/", "@")) or (len(host) > 1 and host[1] == ":"):
        return False  # libpq default, several hosts, a Unix socket directory (or a Windows path)
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return True
    return False


def attempts(dsn: str) -> list[str]:
    """``dsn`` split into one conninfo per address, in libpq's order (``host=a,b``, ``hostaddr=ip1,ip2``, one
    ``port`` or one per host). libpq's ``connect_timeout`` moves on to the next address only in its *blocking*
    connect; with the non-blocking API (``PQconnectPoll``, which the engine uses) the caller owns the timeout, so a
    first address that never answers (an unrouted IPv6 record, a dead primary) would hold every attempt: the
    engine tries each address itself, as psycopg 3 does (``psycopg/_conninfo_attempts.py``). A single address, an
    unparsable DSN or mismatched lists: ``[dsn]`` unchanged (libpq reports the error)."""
    try:
        params = parse_dsn(dsn or "")
    except psycopg2.ProgrammingError:
        return [dsn]
    hosts = params["host"].split(",") if params.get("host") else []
    addrs = params["hostaddr"].split(",") if params.get("hostaddr") else []
    ports = params["port"].split(",") if params.get("port") else []
    n = max(len(hosts), len(addrs))
    if n <= 1 or (hosts and len(hosts) != n) or (addrs and len(addrs) != n) or len(ports) not in (0, 1, n):
        return [dsn]
    out = []
    for i in range(n):
        one = dict(params)
        if hosts:
            one["host"] = hosts[i]
        if addrs:
            one["hostaddr"] = addrs[i]
        if ports:
            one["port"] = ports[i] if len(ports) == n else ports[0]
        out.append(make_dsn(**one))
    return out


def with_hostaddr(
    kwargs: dict[str, Any],
    *,
    timeout_s: float,
    waker: Waker,
    clock: Callable[[], float],
    interrupted: Callable[[], bool],
) -> dict[str, Any]:
    """``kwargs`` (``psycopg2.connect`` keywords with ``dsn``) with the host resolved to ``hostaddr``.

    Raises :class:`ResolveError` (unknown name, no answer within ``timeout_s`` seconds) or
    :class:`agent.db.waiting.Interrupted`."""
    params = parse_dsn(kwargs.get("dsn") or "")
    host = params.get("host") or os.environ.get("PGHOST", "")
    if params.get("hostaddr") or os.environ.get("PGHOSTADDR") or not _needs_lookup(host):
        return kwargs
    port = params.get("port") or os.environ.get("PGPORT") or "5432"
    if "," in port:  # one port per host: leave the pairing to libpq
        return kwargs
    result: dict[str, Any] = {}
    done = threading.Event()

    def lookup() -> None:
        try:
            result["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            result["error"] = exc
        done.set()
        waker.wake()

    threading.Thread(target=lookup, name="aviso-dns", daemon=True).start()
    deadline = clock() + timeout_s
    while not done.is_set():
        if interrupted():
            raise Interrupted
        remaining = deadline - clock()
        if remaining <= 0:
            raise ResolveError(f"could not translate host name {host!r}: no answer from DNS within {timeout_s:g} s")
        wait_fds([], [], min(remaining, 0.5), waker)
    if "error" in result:
        raise ResolveError(f"could not translate host name {host!r} to address: {result['error']}")
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in result["infos"]:
        if sockaddr[0] not in addresses:
            addresses.append(str(sockaddr[0]))
    if not addresses:
        raise ResolveError(f"could not translate host name {host!r} to address: no address")
    params["host"] = ",".join([host] * len(addresses))
    params["hostaddr"] = ",".join(addresses)
    out = type(kwargs)(kwargs)  # keeps ConnectKwargs (its repr hides the password)
    out["dsn"] = make_dsn(**params)
    return out
