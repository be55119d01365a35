"""Summary statistics for latency samples (seconds in, milliseconds out)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of already sorted values, linear interpolation between closest ranks
    (NumPy's default method). NaN for no values."""
    if not sorted_values:
        return math.nan
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summarize_ms(latencies_s: Sequence[float]) -> dict[str, float]:
    """``{"n", "p50", "p95", "p99", "max", "mean"}``; latencies given in seconds, figures in milliseconds."""
    values = sorted(x * 1000.0 for x in latencies_s)
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": values[-1] if values else math.nan,
        "mean": sum(values) / len(values) if values else math.nan,
    }
