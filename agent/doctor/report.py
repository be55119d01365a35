"""The doctor's report: one :class:`CheckResult` per check key of :data:`CHECKS`, as a table, JSON or a summary.

Pure (no I/O); any thread.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from agent.core.advice import Problem, explain
from agent.core.i18n import tr

CHECKS = (
    "driver",
    "resolve",
    "port",
    "tls_handshake",
    "auth",
    "database",
    "server_version",
    "trigger",
    "channel",
    "partitions",
    "two_phase",
    "listen",
    "queries",
    "indexes",
    "sweep",
    "session_limits",
    "role",
    "tls",
    "clock",
    "queue",
)
"""Every check key, in the order the report lists them (from the PC outwards)."""


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class CheckResult:
    """One line of the report. ``detail`` and ``advice`` are translated; ``advice`` is '' when nothing to do."""

    check: str
    status: Status
    detail: str
    advice: str = ""
    problem: Problem | None = None


@dataclass(frozen=True)
class DoctorReport:
    """All results, in :data:`CHECKS` order. ``lang`` is the language of the texts."""

    results: tuple[CheckResult, ...]
    lang: str = "es"

    @property
    def ok(self) -> bool:
        """True when no check failed (warnings allowed)."""
        return all(r.status is not Status.FAIL for r in self.results)

    def result(self, check: str) -> CheckResult:
        """The result of ``check`` (a key of :data:`CHECKS`); ``KeyError`` when it did not run."""
        for r in self.results:
            if r.check == check:
                return r
        raise KeyError(check)

    def to_json(self) -> dict[str, Any]:
        """``{"ok": bool, "lang": str, "checks": [{"check", "title", "status", "detail", "advice", "problem"}]}``."""
        return {
            "ok": self.ok,
            "lang": self.lang,
            "checks": [
                {
                    "check": r.check,
                    "title": tr(f"doctor.check.{r.check}", self.lang),
                    "status": r.status.value,
                    "detail": r.detail,
                    "advice": r.advice,
                    "problem": r.problem.value if r.problem else None,
                }
                for r in self.results
            ],
        }

    def table(self, width: int = 110) -> str:
        """The report as a plain-text table: check | result | what to do, then a one-line verdict."""
        rows = [
            (
                tr(f"doctor.check.{r.check}", self.lang),
                tr(f"doctor.status.{r.status.value}", self.lang) + " " + r.detail,
                r.advice,
            )
            for r in self.results
        ]
        head = (tr("doctor.col.check", self.lang), tr("doctor.col.result", self.lang), tr("doctor.col.todo", self.lang))
        w0 = max(len(head[0]), *(len(r[0]) for r in rows))
        rest = max(40, width - w0 - 3)
        w1 = rest * 2 // 5
        w2 = rest - w1 - 3
        lines = [f"{head[0]:<{w0}} | {head[1]:<{w1}} | {head[2]}", f"{'-' * w0}-+-{'-' * w1}-+-{'-' * w2}"]
        for c0, c1, c2 in rows:
            col1 = textwrap.wrap(c1, w1) or [""]
            col2 = textwrap.wrap(c2, w2) or [""]
            for i in range(max(len(col1), len(col2))):
                a = c0 if i == 0 else ""
                b = col1[i] if i < len(col1) else ""
                c = col2[i] if i < len(col2) else ""
                lines.append(f"{a:<{w0}} | {b:<{w1}} | {c}".rstrip())
        lines.append("")
        lines.append(tr("doctor.verdict.ok" if self.ok else "doctor.verdict.fail", self.lang))
        return "\n".join(lines)

    def summary(self) -> str:
        """One or two sentences for a tray balloon: all fine, or the first failure and what to do."""
        failed = [r for r in self.results if r.status is Status.FAIL]
        if not failed:
            warns = sum(1 for r in self.results if r.status is Status.WARN)
            return tr("doctor.summary.ok", self.lang, warnings=warns)
        first = failed[0]
        return tr(
            "doctor.summary.fail",
            self.lang,
            count=len(failed),
            check=tr(f"doctor.check.{first.check}", self.lang),
            advice=first.advice or first.detail,
        )


def skipped(check: str, lang: str, detail: str = "") -> CheckResult:
    """``check`` did not run: its prerequisite failed (or, with ``detail``, it does not apply)."""
    return CheckResult(check, Status.SKIP, detail or tr("doctor.skipped", lang))


def failed(check: str, detail: str, problem: Problem, lang: str, *, port: int | None = None) -> CheckResult:
    """``check`` failed with a classified ``problem``: the advice is that problem's sentence (``port``: the TCP
    port tried, named by the firewall advice)."""
    return CheckResult(check, Status.FAIL, detail, explain(problem, lang, port=port), problem)
