"""The pure judges of one database inspection (agent.doctor.judge, agent.doctor.judge_access), on hand-made
:class:`KitState` values: no server, no I/O. The real-server side is in test_doctor / test_kit_install /
test_kit_partitions."""

from __future__ import annotations

import dataclasses

import pytest

from agent.core import names
from agent.db import kit_plan
from agent.db.inspect import FunctionInfo, IndexInfo, KitState, Relation, RoleInfo, TriggerInfo
from agent.doctor import judge, judge_access
from agent.doctor.report import Status

CHANNEL_ARGS = names.DEFAULT_CHANNEL.encode() + b"\x00"
OURS = TriggerInfo(names.ENTRIES_TABLE, names.TRIGGER_NAME, "O", CHANNEL_ARGS)
BASE = KitState(
    server_version_num=150000,
    server_version="15.0",
    in_recovery=False,
    max_prepared_transactions=0,
    entries_exists=True,
    members_exists=True,
    relations=(Relation(names.ENTRIES_TABLE, "r"),),
    triggers=(OURS,),
    named_trigger=OURS,
    named_trigger_function=names.TRIGGER_FUNCTION,
    function=FunctionInfo("body", names.TRIGGER_VERSION_COMMENT),
    indexes=(
        IndexInfo(names.ENTRIES_TABLE, "registro_entradas_pkey", ("id_entrada",), True),
        IndexInfo(names.ENTRIES_TABLE, "a", ("fecha_hora", "tipo_acceso"), True),
        IndexInfo(names.ENTRIES_TABLE, "b", ("id_miembro", "fecha_hora"), True),
    ),
    role=RoleInfo(names.ROLE, True),
)


def state(**changes: object) -> KitState:
    return dataclasses.replace(BASE, **changes)  # type: ignore[arg-type]


def test_healthy_state_is_ok_everywhere() -> None:
    assert judge.trigger(BASE, "en", "body").status is Status.OK
    assert judge.channel(BASE, names.DEFAULT_CHANNEL, "en").status is Status.OK
    assert judge.partitions(BASE, "en").status is Status.OK
    assert judge.two_phase(BASE, "notify", "en").status is Status.OK
    assert judge.replica(BASE, "notify", "en") is None
    assert judge_access.indexes(BASE, "en").status is Status.OK  # a longer index with the right prefix counts
    assert kit_plan.index_plan(BASE) == []
    assert judge_access.session_limits(BASE, 15.0, "en").status is Status.OK
    assert judge_access.role(BASE, "en").status is Status.OK
    assert all(r.status is Status.OK for r in judge.configure_findings(BASE, channel_name=names.DEFAULT_CHANNEL,
                                                                      mode="notify", lang="en"))  # fmt: skip


def test_trigger_body_modified_by_hand_is_a_warning_and_another_version_a_failure() -> None:
    assert judge.trigger(BASE, "en", "other body").status is Status.WARN
    old = state(function=FunctionInfo("body", "aviso-entradas trigger, payload v0"))
    assert judge.trigger(old, "en", "body").status is Status.FAIL
    disabled = state(named_trigger=dataclasses.replace(OURS, enabled="D"))
    assert judge.trigger(disabled, "en", None).status is Status.FAIL
    missing = state(named_trigger=None, triggers=(), other_triggers=("ajeno",))
    r = judge.trigger(missing, "en", None)
    assert r.status is Status.FAIL and "ajeno" in r.detail
    assert judge.channel(missing, names.DEFAULT_CHANNEL, "en").status is Status.SKIP


def test_channel_compares_bytes_and_names_a_case_difference() -> None:
    assert judge.channel(BASE, "Nueva_Entrada_Canal", "en").status is Status.FAIL
    assert "case" in judge.channel(BASE, "Nueva_Entrada_Canal", "en").detail
    no_args = state(named_trigger=dataclasses.replace(OURS, args=b""))
    assert judge.channel(no_args, names.DEFAULT_CHANNEL, "en").status is Status.OK  # the function's default


def test_inheritance_children_without_our_trigger_fail_declarative_clones_pass() -> None:
    child = Relation("registro_entradas_2026", "r", names.ENTRIES_TABLE)
    inherit = state(relations=(*BASE.relations, child), before_insert_triggers=("desviar",))
    r = judge.partitions(inherit, "en")
    assert r.status is Status.FAIL and "registro_entradas_2026" in r.detail and "desviar" in r.detail
    assert kit_plan.untriggered_tables(inherit) == ("registro_entradas_2026",)
    fixed = state(relations=inherit.relations, triggers=(OURS, dataclasses.replace(OURS, relation=child.name)))
    assert judge.partitions(fixed, "en").status is Status.OK
    disabled_child = state(
        relations=inherit.relations, triggers=(OURS, dataclasses.replace(OURS, relation=child.name, enabled="D"))
    )
    assert judge.partitions(disabled_child, "en").status is Status.FAIL

    part = Relation("p1", "r", names.ENTRIES_TABLE, declarative=True)
    declarative = state(
        relations=(Relation(names.ENTRIES_TABLE, "p"), part),
        triggers=(OURS, dataclasses.replace(OURS, relation="p1", cloned=True)),
    )
    r = judge.partitions(declarative, "en")
    assert r.status is Status.OK and "1 tables" in r.detail  # the partitioned parent holds no rows
    assert judge.partitions(state(before_insert_triggers=("x",)), "en").status is Status.WARN


def test_two_phase_and_replica_depend_on_the_mode() -> None:
    prepared = state(max_prepared_transactions=10)
    assert judge.two_phase(prepared, "notify", "en").status is Status.WARN
    assert judge.two_phase(prepared, "poll", "en").status is Status.OK
    standby = state(in_recovery=True)
    rep = judge.replica(standby, "notify", "en")
    assert rep is not None and rep.status is Status.WARN and "poll" in rep.advice
    assert judge.replica(standby, "poll", "en") is None
    findings = judge.configure_findings(prepared, channel_name=names.DEFAULT_CHANNEL, mode="poll", lang="en")
    assert [f.check for f in findings] == ["two_phase"]
    notes = kit_plan.setup_notes(prepared, with_trigger=True, lang="en")
    assert notes and notes[0].startswith("WARNING: max_prepared_transactions = 10.")
    assert kit_plan.setup_notes(prepared, with_trigger=False, lang="en") == []


def test_index_plan_names_missing_and_invalid_indexes_per_landing_table() -> None:
    child = Relation("hija", "r", names.ENTRIES_TABLE)
    bare = state(
        relations=(*BASE.relations, child),
        indexes=(*BASE.indexes, IndexInfo("hija", "hija_fecha_hora_idx", ("fecha_hora",), False)),
    )
    plan = kit_plan.index_plan(bare)
    assert plan == [
        # An inheritance child inherits no index, not even the primary key's: the cursor's id_entrada bound.
        kit_plan.IndexPlan("hija", "hija_id_entrada_idx", ("id_entrada",)),
        kit_plan.IndexPlan("hija", "hija_fecha_hora_idx", ("fecha_hora",), "hija_fecha_hora_idx"),
        kit_plan.IndexPlan("hija", "hija_miembro_fecha_idx", ("id_miembro", "fecha_hora")),
    ]
    r = judge_access.indexes(bare, "en")
    assert r.status is Status.WARN and "INVALID" in r.detail and "missing on hija (id_miembro, fecha_hora)" in r.detail
    assert "missing on hija (id_entrada)" in r.detail
    pkey = BASE.indexes[0]
    wrong_order = state(indexes=(pkey, IndexInfo(names.ENTRIES_TABLE, "c", ("fecha_hora", "id_miembro"), True)))
    assert [p.columns for p in kit_plan.index_plan(wrong_order)] == [("id_miembro", "fecha_hora")]
    assert len(kit_plan.index_name("x" * 70, "fecha_hora_idx").encode()) == 63


@pytest.mark.parametrize(
    ("value", "ms"),
    [("400ms", 400.0), ("4s", 4000.0), ("1min", 60000.0), ("5000", 5000.0), ("0", 0.0), ("2h", 7_200_000.0),
     ("abc", None), ("5 parsecs", None)],
)  # fmt: skip
def test_duration_ms(value: str, ms: float | None) -> None:
    assert judge_access.duration_ms(value) == ms


def test_session_limits_below_the_heartbeat_are_named() -> None:
    role = RoleInfo(
        names.ROLE,
        True,
        settings=(
            ("role", "statement_timeout", "100ms"),
            ("database", "idle_session_timeout", "1min"),
            ("role", "idle_in_transaction_session_timeout", "0"),
            ("role", "lock_timeout", "1s"),
        ),
    )
    r = judge_access.session_limits(state(role=role), 15.0, "en")
    assert r.status is Status.WARN
    assert "statement_timeout = 100ms (role)" in r.detail
    assert "idle_session_timeout" not in r.detail  # 60 s is above the 15 s heartbeat
    assert "lock_timeout" not in r.detail and "idle_in_transaction" not in r.detail  # 0 means off


def test_role_with_too_much_is_a_warning() -> None:
    role = RoleInfo(
        names.ROLE,
        True,
        attributes=("CREATEDB",),
        writable=(names.ENTRIES_TABLE,),
        readable=frozenset({(names.MEMBERS_TABLE, "email")}),
    )
    r = judge_access.role(state(role=role), "en")
    assert r.status is Status.WARN and "CREATEDB" in r.detail and "email" in r.detail


def test_sweep_cost_warns_on_a_sequential_scan_of_a_large_table_only() -> None:
    big = state(relations=(Relation(names.ENTRIES_TABLE, "r", rows=1_000_000.0),))
    assert judge_access.sweep(judge_access.SweepCost(3.0, 40, True), big, "en").status is Status.WARN
    assert judge_access.sweep(judge_access.SweepCost(3.0, 40, True), BASE, "en").status is Status.OK
    assert judge_access.sweep(judge_access.SweepCost(80.0, 40, False), big, "en").status is Status.WARN


def test_sweep_cost_counts_the_rows_of_the_tables_scanned_sequentially() -> None:
    """An inheritance parent left empty by a redirect trigger is rightly scanned; its child's rows do not count."""
    tree = state(
        relations=(
            Relation(names.ENTRIES_TABLE, "r", rows=0.0),
            Relation("hija", "r", names.ENTRIES_TABLE, rows=1_000_000.0),
        )
    )
    parent_only = judge_access.SweepCost(1.0, 3, True, seq_tables=(names.ENTRIES_TABLE,))
    child = judge_access.SweepCost(1.0, 3, True, seq_tables=(names.ENTRIES_TABLE, "hija"))
    assert judge_access.sweep(parent_only, tree, "en").status is Status.OK
    assert judge_access.worth_running(parent_only, tree)
    assert judge_access.sweep(child, tree, "en").status is Status.WARN
    assert not judge_access.worth_running(child, tree)


def test_index_progress_lines() -> None:
    from agent.db.setup_index import progress_line

    assert progress_line("i", "building index: scanning table", 10, 40, 0, 0, lang="en") == (
        "  i: building index: scanning table, 10/40 blocks"
    )
    assert progress_line("i", "building index: loading tuples in tree", 0, 0, 5, 9, lang="en").endswith("5/9 rows")
    assert progress_line("i", "waiting for old snapshots", 0, 0, 0, 0, lang="es") == "  i: waiting for old snapshots"


def test_index_plan_adds_the_partitioned_parents_index_after_the_partitions() -> None:
    part = Relation("p1", "r", names.ENTRIES_TABLE, declarative=True)
    tree = state(
        relations=(Relation(names.ENTRIES_TABLE, "p"), part),
        indexes=(
            # The primary key of a partitioned table leads with id_entrada and is on every partition.
            IndexInfo(names.ENTRIES_TABLE, "registro_entradas_pkey", ("id_entrada", "fecha_hora"), True),
            IndexInfo("p1", "p1_pkey", ("id_entrada", "fecha_hora"), True),
            IndexInfo("p1", "p1_f", ("fecha_hora",), True),
            IndexInfo("p1", "p1_m", ("id_miembro", "fecha_hora"), True),
            IndexInfo(names.ENTRIES_TABLE, "half_done", ("fecha_hora",), False),  # ON ONLY, not yet attached
        ),
    )
    plan = kit_plan.index_plan(tree)
    assert plan == [
        kit_plan.IndexPlan(names.ENTRIES_TABLE, "half_done", ("fecha_hora",), partitioned=True),
        kit_plan.IndexPlan(
            names.ENTRIES_TABLE, "registro_entradas_miembro_fecha_idx", ("id_miembro", "fecha_hora"), partitioned=True
        ),
    ]
    assert "partitioned table" in judge_access.indexes(tree, "en").detail
