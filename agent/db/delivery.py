"""What the engine delivers, and when it counts as delivered: the ledger, its file, the catch-up and the re-read.

:class:`Delivery` turns rows of ``registro_entradas`` into :class:`agent.core.events.EntryReceived` events exactly
once: it reads the columns the role may see, starts or loads the ledger (:mod:`agent.core.ledger`, file:
:mod:`agent.db.ledger_store`), replays what was missed (old entries as one
:class:`agent.core.events.BacklogSummary`), re-reads NOTIFY hints and poll results in one batched query, and saves
the ledger when told. Every statement is index-bounded (:mod:`agent.db.queries`).

Which thread: the engine's worker only (:meth:`Delivery.ack` from any thread).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import queue
from collections.abc import Callable, Iterable, Sequence

import psycopg2
from psycopg2.extensions import parse_dsn

from agent.core import names
from agent.core.events import BacklogSummary, EntryReceived, Event
from agent.core.ledger import Ledger
from agent.core.model import Entry, Source
from agent.core.payload import PayloadError, parse
from agent.db import queries
from agent.db.engine_config import EngineConfig
from agent.db.ledger_store import LedgerStore
from agent.db.session import Session

log = logging.getLogger("agent.engine")

PERSIST_QUIET_S = 0.2
"""Seconds without a NOTIFY before the ledger is saved: writing it costs time proportional to the entries in the
lookback window (25-40 ms for the 6,000 that 60 s at 100 entries/s leave), which must not hold up an arriving entry
(docs/benchmarks.md: at 100 entries/s with a full window, p99 latency went from 78 ms to 12.5 ms)."""
PERSIST_MAX_DEFER_S = 30.0
"""Under uninterrupted traffic the ledger is still saved this often (a crash loses at most this much of it: those
entries are replayed once, as catch-up, after a restart)."""
FUTURE_MARGIN_S = 300.0
"""The late-commit window ends this far after the server's now (estimated: a suspended PC's monotonic clock may
lag): rows dated further ahead (a turnstile clock ahead) are left to the id window, instead of being read again on
every poll until their date comes."""
NO_INDEX_WINDOW_IDS = 5000
"""Without an index on ``fecha_hora`` the late-commit window reads at most this many ids below the id window, by
the primary key (the no-trigger mode's vendors may allow no index either): a bound instead of a sequential scan."""
PHOTO_BATCH_MAX = 50
"""Re-read batches of more ids than this carry no photo bytes (a catch-up of thousands would move megabytes per
entry that flood control folds into one summary anyway)."""


def ledger_server(dsn: str, s: Session) -> str:
    """The server part of the ledger's key: ``host:port/db`` of the session, except for a multi-host DSN
    (``host=a,b``: a primary and its standby, libpq's failover list), where it is the configured list
    (``a,b:5432,5433/db``): all of them are one database, so a reconnect to the next host keeps the ledger
    (a new key meant a fresh ledger, replaying every entry since the agent started). ``dsn``: the configured
    conninfo (``PGHOST``/``PGPORT`` when it names no host)."""
    try:
        params = parse_dsn(dsn or "")
    except psycopg2.ProgrammingError:
        return s.server
    host = params.get("host") or os.environ.get("PGHOST", "")
    if "," not in host:
        return s.server
    port = params.get("port") or os.environ.get("PGPORT", "")
    return f"{host}:{port}/{s.conn.info.dbname}"


class Delivery:
    """Ledger + re-read + catch-up for one engine. ``post`` hands an event to the consumer; ``clock`` is the
    engine's monotonic clock (seconds)."""

    def __init__(
        self, config: EngineConfig, store: LedgerStore, post: Callable[[Event], None], clock: Callable[[], float]
    ) -> None:
        self.config = config
        self.store = store
        self._post = post
        self._clock = clock
        self.ledger = Ledger(lookback_s=config.lookback_s, lookback_ids=config.lookback_ids)
        self._ledger_key: str | None = None
        self.dirty = False
        self.last_persist = 0.0
        self._select: queries.EntrySelect | None = None
        self._server_clock: tuple[dt.datetime, float] | None = None
        self._pending: dict[int, dt.datetime] = {}
        self._fecha_index = True
        self._acks: queue.SimpleQueue[int] = queue.SimpleQueue()
        self.tracking = config.require_ack and config.cursor_path is not None
        """Acknowledgements only matter for a saved ledger; without one nothing is kept (no growth)."""
        self.stats = {"notifies": 0, "delivered": 0, "rejected_payloads": 0}

    def ack(self, entry_id: int) -> None:
        """The consumer is done with ``entry_id``. Any thread."""
        if self.tracking:
            self._acks.put(entry_id)

    # -- (re)connect ------------------------------------------------------------------------------------------
    def prepare(self, s: Session, started_clock: float) -> None:
        """After connecting: read the available columns, load or start the ledger, catch up. ``started_clock``:
        when the agent started (our clock), the start of a first run's delivery."""
        c = self.config
        self._server_clock = s.server_clock
        readable = s.query(
            queries.READABLE_COLUMNS_SQL, {"entries": names.ENTRIES_TABLE, "members": names.MEMBERS_TABLE}
        )
        ((history,),) = s.query(queries.HISTORY_INDEX_SQL, {"entries": names.ENTRIES_TABLE})
        ((self._fecha_index,),) = s.query(queries.FECHA_INDEX_SQL, {"entries": names.ENTRIES_TABLE})
        if not self._fecha_index:
            log.warning(
                "no index on %s (fecha_hora): late commits are looked for among the last %s ids only (setup-db"
                " creates it)",
                names.ENTRIES_TABLE,
                NO_INDEX_WINDOW_IDS + c.lookback_ids,
            )
        if not history:
            log.warning(
                "no index on %s (id_miembro, fecha_hora): repeat-entry and first-visit data left out (setup-db"
                " creates it)",
                names.ENTRIES_TABLE,
            )
        self._select = queries.EntrySelect.from_readable(
            [(str(t), str(col)) for t, col in readable],
            photo_column=c.photo_column,
            photo_max_bytes=c.photo_max_bytes,
            history=bool(history),
        )
        if c.photo_column and self._select.photo_column is None:
            log.warning("photo column %s.%s missing or not readable: no photos", names.MEMBERS_TABLE, c.photo_column)
        elif self._select.photo_column is not None:
            rows = s.query(
                queries.PHOTO_COLUMN_IS_BYTEA_SQL, {"members": names.MEMBERS_TABLE, "column": self._select.photo_column}
            )
            if not (rows and rows[0][0]):
                log.warning("photo column %s.%s is not bytea: no photos", names.MEMBERS_TABLE, c.photo_column)
                self._select = dataclasses.replace(self._select, photo_column=None)
        key = f"{ledger_server(c.dsn, s)}#{c.channel}"
        if self._ledger_key != key:  # another server (or the first connect): its own ledger
            self._ledger_key = key
            self.ledger = self.store.load(key)
            self.ledger.lookback_ids = c.lookback_ids
        if not self.ledger.initialized:
            elapsed = max(0.0, self._clock() - started_clock)
            (max_id, start_time), *_ = s.query(queries.START_SQL, {"elapsed_s": elapsed})
            self.ledger.start_at(int(max_id), start_time)
            self.dirty = True
            log.info("first start on %s: delivering entries after id %s", s.server, max_id)
        self.catch_up(s, Source.CATCHUP)

    # -- persistence --------------------------------------------------------------------------------------------
    def persist(self, force: bool = False, min_age_s: float = 0.0) -> None:
        """Save the ledger if dirty and due (``force``: now)."""
        if not self.store.enabled or not self.dirty or self._ledger_key is None:
            return
        now = self._clock()
        if not force and now - self.last_persist < max(self.config.persist_interval_s, min_age_s):
            return
        self.last_persist = now  # also after a failure: retry once per interval, not on every wakeup
        while True:
            try:
                self._pending.pop(self._acks.get_nowait(), None)
            except queue.Empty:
                break
        ledger = self.ledger.without(self._pending) if self._pending else self.ledger
        if self.store.save(ledger, self._ledger_key):
            self.dirty = bool(self._pending)  # save again once the consumer has acknowledged them

    def persist_wait(self, wait: float) -> float:
        """``wait`` shortened so that a dirty ledger is saved once the link is quiet."""
        if self.dirty and self.store.enabled:
            due = self.last_persist + self.config.persist_interval_s - self._clock()
            wait = min(wait, max(PERSIST_QUIET_S, due))
        return wait

    def pending_acks(self) -> int:
        """Entries handed over and not yet acknowledged (tests)."""
        return len(self._pending) + self._acks.qsize()

    # -- delivery ---------------------------------------------------------------------------------------------
    def _server_now(self) -> dt.datetime | None:
        """The server's clock, estimated from the reading at connect plus our monotonic time since."""
        if self._server_clock is None:
            return None
        at, mono = self._server_clock
        return at + dt.timedelta(seconds=self._clock() - mono)

    def _deliver(self, entries: Iterable[Entry], source: Source) -> None:
        fresh: list[int] = []
        for entry in entries:
            if not self.ledger.is_new(entry.entry_id, entry.occurred_at):
                continue
            self.ledger.mark(entry.entry_id, entry.occurred_at, self._server_now())
            if self.tracking:
                self._pending[entry.entry_id] = entry.occurred_at
            self.dirty = True
            self.stats["delivered"] += 1
            self._post(EntryReceived(entry, source, self._clock()))
            fresh.append(entry.entry_id)
        for entry_id in fresh:  # logged after the whole batch was handed over: file I/O must not delay it
            log.info("Procesando entrada ID: %s (%s)", entry_id, source.value)
        self.persist(min_age_s=PERSIST_MAX_DEFER_S)  # otherwise saved when the link is quiet

    def reread(self, s: Session, ids: Sequence[int], source: Source) -> set[int]:
        """Re-read ``ids`` (one query per ``catch_up_page`` ids) and deliver what is new; returns the ids found."""
        assert self._select is not None
        found: set[int] = set()
        page = max(1, self.config.catch_up_page)
        for i in range(0, len(ids), page):
            chunk = list(ids[i : i + page])
            text = self._select.by_ids_sql(photo=len(chunk) <= PHOTO_BATCH_MAX)
            rows = s.query(text, {"member": names.MEMBER_ACCESS, "ids": chunk})
            entries = self._select.complete_history([self._select.row_to_entry(r) for r in rows])
            found.update(e.entry_id for e in entries)
            self._deliver(entries, source)
        return found

    def fetch_pending(self, s: Session, source: Source, cutoff: dt.datetime | None = None) -> None:
        """New ids (primary key range, paged) and the late-commit window (``fecha_hora`` range), deduplicated by
        the ledger, then re-read and delivered. Idle: one query. ``cutoff``: entries dated before it are left
        out (the backlog summary's; None: any date, as a NOTIFY would deliver them)."""
        assert self._select is not None
        c = self.config
        page_after = self.ledger.cursor_id
        first = True
        now = self._server_now()
        until = now + dt.timedelta(seconds=FUTURE_MARGIN_S) if now is not None else None
        while True:
            window_top = min(self.ledger.cursor_id, self.ledger.hole_floor())
            rows = s.query(
                self._select.pending_ids_sql(),
                {
                    "member": names.MEMBER_ACCESS,
                    "after_id": self.ledger.cursor_id,
                    "page_after": page_after,
                    "since": self.ledger.since(),
                    "cutoff": cutoff,
                    "limit": c.catch_up_page,
                    "holes": self.ledger.holes() if first else [],
                    "window_top": window_top,
                    "until": until,
                    "window_bottom": 0 if self._fecha_index else max(0, window_top - NO_INDEX_WINDOW_IDS),
                },
            )
            new_part = [int(r[0]) for r in rows if r[2]]
            for i, at, _, member in rows:
                if not member:  # a visitor's (or an employee's) id in the id window: not a hole any more
                    self.ledger.settle(int(i), at)
                    self.dirty = True
            ids = sorted({int(i) for i, at, _, member in rows if member and self.ledger.is_new(int(i), at)})
            if ids:
                self.reread(s, ids, source)
            if len(new_part) < c.catch_up_page:
                return
            page_after, first = new_part[-1], False

    def catch_up(self, s: Session, source: Source) -> None:
        """Replay what the table has and we have not delivered: old ones as one summary, recent ones one by one."""
        c = self.config
        params = {"member": names.MEMBER_ACCESS, "max_age_s": c.replay_max_age_s}
        count, oldest, newest, max_id, cutoff, table_max = s.query(
            queries.BACKLOG_SQL, {**params, "after_id": self.ledger.cursor_id}
        )[0]
        if int(table_max) < self.ledger.cursor_id:
            self._rebase(s, int(table_max))
            count, oldest, newest, max_id, cutoff, table_max = s.query(
                queries.BACKLOG_SQL, {**params, "after_id": self.ledger.cursor_id}
            )[0]
        if count:
            log.info("catch-up: %s entries older than %s s reported as one summary", count, c.replay_max_age_s)
            self.ledger.skip_to(int(max_id), newest, self._server_now())
            self.dirty = True
            self._post(BacklogSummary(int(count), oldest, newest))
        self.fetch_pending(s, source, cutoff)
        self.ledger.prune()

    def _rebase(self, s: Session, table_max: int) -> None:
        """The ids went back (table emptied with ``RESTART IDENTITY``, or restored from an older backup): the
        ledger continues from the highest id dated before its cursor time (the last moment it was in step: rows
        dated after it are new, those before it an older backup's, already delivered); a remembered id counts as
        delivered only if the table still has it with the same date (a reused id is a new entry). Primary-key
        lookups, only when this happens."""
        assert self._select is not None
        log.warning(
            "the highest id of %s is %s, below the %s already delivered (table emptied or restored?):"
            " continuing from there",
            names.ENTRIES_TABLE,
            table_max,
            self.ledger.cursor_id,
        )
        candidates = sorted(i for i in self.ledger.recent if i <= table_max)
        valid: set[int] = set()
        if candidates:
            rows = s.query(self._select.dates_sql(), {"ids": candidates})
            valid = {int(i) for i, at in rows if self.ledger.recent.get(int(i)) == at}
        ((base,),) = s.query(queries.REBASE_SQL, {"before": self.ledger.cursor_time, "table_max": table_max})
        self.ledger.rebase(int(base), valid)
        self.dirty = True

    def handle_notifies(self, s: Session) -> None:
        """Take the NOTIFYs psycopg2 has received, parse them as hints, re-read the named ids in one query."""
        batch = list(s.notifies)
        del s.notifies[:]
        ids: list[int] = []
        for n in batch:
            self.stats["notifies"] += 1
            log.debug("Notificación recibida: %.200s", n.payload)
            try:
                hint = parse(n.payload)
            except PayloadError as exc:
                self.stats["rejected_payloads"] += 1
                log.warning("NOTIFY payload from backend pid %s ignored: %s", n.pid, exc)
                continue
            if hint.warning:
                log.info("NOTIFY payload for entry %s: %s (re-read from the table)", hint.entry_id, hint.warning)
            if hint.entry_id not in self.ledger.recent:
                ids.append(hint.entry_id)
        if not ids:
            return
        wanted = sorted(set(ids))
        found = self.reread(s, wanted, Source.LIVE)
        for missing in sorted(set(wanted) - found):
            log.warning("NOTIFY names entry %s, which is not a member entry in the table: ignored", missing)
