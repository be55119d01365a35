"""Benchmarks: our listener engine against the raw psycopg2 loop and 2-second polling, in one run.

Run ``.venv/bin/python -m bench`` (full, ~4 minutes) or ``.venv/bin/python -m bench --quick`` (~30 s smoke).
It starts its own throwaway PostgreSQL (:class:`agent.db.throwaway.ThrowawayPostgres`, the machine's server
binaries unless ``AVISO_PG_BACKEND`` says otherwise), prints one table and writes JSON (docs/benchmarks.md).

Modules: :mod:`bench.run` (scenarios, table, JSON), :mod:`bench.agent_proc` (the listening agents, one process
each, driven over stdin/stdout), :mod:`bench.proc` (per-process CPU, context switches and memory from ``/proc``),
:mod:`bench.stats` (percentiles), :mod:`bench.bigtable` (``--big``: a registro_entradas of years of rows),
:mod:`bench.trigger_variants` (the trigger's cost per INSERT, variant by variant).

Desk-visible latency (INSERT -> the notification server receiving ``Notify``, on a real desktop) is its own
command, ``python -m bench.desk_latency`` (:mod:`bench.desk_latency`, :mod:`bench.bus_monitor`).
"""
