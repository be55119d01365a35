"""Run by ``tests/test_engine_swap.py`` inside ``unshare -m`` with ``/etc/resolv.conf`` bind-mounted to point at
a :class:`tests.fake_dns.FakeDns` on 127.0.0.77: a listener engine whose DNS lookup never answers.

Usage: ``python -m tests.engine_dns_scenario <port> <dbname> <password>``; prints one JSON object of findings.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from agent.core.events import ConnState
from tests.engine_helpers import Running
from tests.fake_dns import FakeDns


def main() -> int:
    port, dbname, password = sys.argv[1], sys.argv[2], sys.argv[3]
    dns = FakeDns("127.0.0.77", {"turnstile.test"})
    dsn = f"host=turnstile.test port={port} dbname={dbname} user=pos_user"
    out: dict[str, object] = {}
    ticks = 0
    ticking = threading.Event()

    def ticker() -> None:  # proves the process is not frozen (a lookup holding the GIL would stop it)
        nonlocal ticks
        while not ticking.is_set():
            time.sleep(0.05)
            ticks += 1

    threading.Thread(target=ticker, daemon=True).start()
    dns.mode = "hang"
    run = Running(dsn, password, connect_timeout_s=30.0)
    run.__enter__()
    t0 = time.monotonic()
    while dns.queries == 0 and time.monotonic() - t0 < 10:
        time.sleep(0.05)
    time.sleep(1.0)
    ticking.set()
    out["dns_queries_while_hung"] = dns.queries
    out["ticks_in_hang"] = ticks
    out["connecting"] = [s.state.value for s in run.states]
    t1 = time.monotonic()
    out["stopped"] = run.engine.stop(timeout_s=2.0)
    out["stop_s"] = time.monotonic() - t1
    # The same name answered: the engine connects through the resolved address and keys its ledger by the name.
    dns.mode = "answer"
    with Running(dsn, password) as ok:
        out["listening"] = ok.wait_listening(timeout=15)
        out["server"] = ok.engine.server
        out["states"] = [s.state.value for s in ok.states if s.state is not ConnState.CONNECTING]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
