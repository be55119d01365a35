"""Checks judged from the one inspection of the database (:meth:`Context.kit`): each is a thin call of a pure
function in :mod:`agent.doctor.judge` / :mod:`agent.doctor.judge_access`. In poll mode the checks of the notify
path (trigger, channel, partitions) are skipped with that reason.
"""

from __future__ import annotations

from agent.doctor import judge, judge_access
from agent.doctor.context import Context
from agent.doctor.report import CheckResult


def _shipped() -> str | None:
    from agent.db import setup

    return judge.shipped_function_source(setup.trigger_sql())


def server_version(ctx: Context) -> CheckResult:
    return judge.server_version(ctx.kit(), ctx.lang)


def trigger(ctx: Context) -> CheckResult:
    if ctx.target.mode == "poll":
        return judge.poll_mode_skip("trigger", ctx.lang)
    return judge.trigger(ctx.kit(), ctx.lang, _shipped())


def channel(ctx: Context) -> CheckResult:
    if ctx.target.mode == "poll":
        return judge.poll_mode_skip("channel", ctx.lang)
    return judge.channel(ctx.kit(), ctx.target.channel, ctx.lang)


def partitions(ctx: Context) -> CheckResult:
    if ctx.target.mode == "poll":
        return judge.poll_mode_skip("partitions", ctx.lang)
    return judge.partitions(ctx.kit(), ctx.lang)


def two_phase(ctx: Context) -> CheckResult:
    return judge.two_phase(ctx.kit(), ctx.target.mode, ctx.lang)


def indexes(ctx: Context) -> CheckResult:
    return judge_access.indexes(ctx.kit(), ctx.lang)


def session_limits(ctx: Context) -> CheckResult:
    return judge_access.session_limits(ctx.kit(), ctx.target.heartbeat_s, ctx.lang)


def role(ctx: Context) -> CheckResult:
    return judge_access.role(ctx.kit(), ctx.lang)
