"""Figures and the RESULTS.md section of the detection-to-delivery benchmark."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.exceptions.baselines import Explained
    from bench.exceptions.detection_latency import Repetition, ScanRun

START = "<!-- bench:exceptions:start -->"
END = "<!-- bench:exceptions:end -->"
MACHINE = "python-svc, 2 cores"
DATE = "2026-11-23"

Show = Callable[[float], str]


def percentile(values: Sequence[float], p: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}" if seconds >= 0.1 else f"{seconds * 1000:.1f}"


def whole(value: float) -> str:
    return f"{value:.0f}"


def tenth(value: float) -> str:
    return f"{value:.1f}"


def spread(values: Sequence[float], show: Show = ms) -> str:
    """Median of the repetitions, with min-max when there is more than one."""
    middle = show(statistics.median(values))
    if len(values) == 1:
        return middle
    return f"{middle} ({show(min(values))}-{show(max(values))})"


def repetition_line(r: Repetition) -> str:
    totals = [s.total for s in r.samples]
    return (
        f"  {len(r.samples)}/{r.expected} cases, expiry->client p50 {ms(percentile(totals, 50))}"
        f" ms p99 {ms(percentile(totals, 99))} ms; {len(r.scans)} scans, "
        f"median {statistics.median(s.ms for s in r.scans):.0f} ms"
    )


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


class _Table:
    """Rows of per-repetition figures, each shown as median (min-max) of the repetitions."""

    def __init__(self, results: Sequence[Repetition]) -> None:
        self.results = results

    def latency(self, label: str, pick: Callable[[Repetition], Sequence[float]]) -> str:
        p50 = [percentile(pick(r), 50) for r in self.results]
        p99 = [percentile(pick(r), 99) for r in self.results]
        return f"| {label} | {spread(p50)} | {spread(p99)} |"

    def value(self, label: str, pick: Callable[[Repetition], float], show: Show) -> str:
        return f"| {label} | {spread([pick(r) for r in self.results], show)} |"

    def explained(self, label: str, pick: Callable[[Repetition], Explained]) -> str:
        runs = [pick(r) for r in self.results]
        return (
            f"| {label} | {spread([e.execution_ms for e in runs], lambda v: f'{v:.2f}')} | "
            f"{spread([float(e.visits_rows_examined) for e in runs], whole)} | "
            f"{spread([float(e.rows_returned) for e in runs], whole)} |"
        )


def _busy(r: Repetition) -> list[ScanRun]:
    return [s for s in r.scans if s.opened] or r.scans


def _idle_ms(r: Repetition) -> float:
    idle = [s.ms for s in r.scans if not s.opened]
    return statistics.median(idle) if idle else float("nan")


def _per_case_ms(r: Repetition) -> float:
    busy = _busy(r)
    return sum(s.ms for s in busy) / max(1, sum(s.opened for s in busy))


def _reading(results: Sequence[Repetition], interval: float) -> str:
    """What the figures say, from the figures themselves."""
    beyond = [percentile([s.received - s.scan_started for s in r.samples], 99) for r in results]
    commit = [percentile([s.delivery for s in r.samples], 99) for r in results]
    per_case = [_per_case_ms(r) for r in results]
    busy = [statistics.median(s.opened for s in _busy(r)) for r in results]
    sql_ms = [r.busy_sql.late.execution_ms for r in results]
    examined = [float(r.busy_sql.late.visits_rows_examined) for r in results]
    return (
        f"**Reading.** Almost all of the latency is the wait for the next scan (uniform over "
        f"0-{interval:g} s by design); what the hub adds beyond it is the scan's own work "
        f"plus delivery: p99 {spread(beyond)} ms from scan start to the client. Of that, the "
        f"scan opening its cases dominates (~{spread(per_case, tenth)} ms per case, "
        f"{spread(busy, whole)} cases per busy scan); from the scan's commit to the client "
        f"takes p99 {spread(commit)} ms (NOTIFY, the hub's read of the log, authorisation, "
        f"GraphQL, the websocket). The due-visit SQL itself takes "
        f"{spread(sql_ms, lambda v: f'{v:.1f}')} ms and examines "
        f"{spread(examined, whole)} of the day's {results[0].plan.visits:,} visit rows (the "
        "scan window's, by planned start). To cut detection latency, shorten "
        "`HUB_GOVERNANCE_SCAN_SECONDS`: a scan with nothing due costs little (above)."
    )


def markdown(results: Sequence[Repetition], args: argparse.Namespace) -> str:
    interval = float(args.scan_seconds)
    first = results[0]
    plan = first.plan
    measured = plan.measured_late + plan.measured_time_critical + plan.measured_missed
    table = _Table(results)
    p99_total = [percentile([s.total for s in r.samples], 99) for r in results]
    met = max(p99_total) < interval + 2
    ratio = [percentile(r.probes, 50) / percentile(r.notify, 50) for r in results]
    options = "".join(
        [
            f" --repeat {args.repeat}" if args.repeat != 3 else "",
            f" --scan-seconds {interval:g}" if interval != 15 else "",
            f" --window-seconds {args.window_seconds:g}" if args.window_seconds != 120 else "",
        ]
    )
    lines = [
        START,
        "## Exception detection-to-delivery latency (issue 6)",
        "",
        f"- **Machine:** {MACHINE} ({_cpu()}, {os.cpu_count()} logical CPUs, "
        f"{platform.system()} {platform.release()}); embedded PostgreSQL {first.server}; "
        f"Python {platform.python_version()}. A shared VM: other work ran at the same time.",
        f"- **Date:** {DATE}.",
        f"- **Command:** `.venv/bin/python -m bench.exceptions.detection_latency{options}`",
        f"- **Method:** one contract with {plan.visits:,} visits in the day (1,250 people). "
        f"{measured} of them are unattended and their tolerance expires, on the real clock, "
        f"inside a {args.window_seconds:g} s window: late ({plan.measured_late}, 15 min), "
        f"time-critical late ({plan.measured_time_critical}, 5 min), missed "
        f"({plan.measured_missed}, 60 min). The rest are attended (past) or not yet due. A "
        "real `hub serve` (pinned to CPU 0, worker off) serves the exception feed to a "
        "graphql-transport-ws client in its own process (CPU 1), which stamps each message on "
        f"arrival. The benchmark plays the worker: `run_due_visit_scan` every {interval:g} s "
        "on the cron's cadence. Expiry = planned start + tolerance; each delivered case is "
        f"joined back to its visit. Fresh servers per repetition; {len(results)} "
        "repetition(s); each figure is the median of the repetitions (min-max). Baselines, "
        "in the same run on the same servers: 60 events committed straight to the log (the "
        "feed without the scan) and the raw asyncpg LISTEN/NOTIFY round trip.",
        "",
        "| latency, ms | p50 | p99 |",
        "|---|---|---|",
        table.latency("**expiry -> case at the client**", lambda r: [s.total for s in r.samples]),
        table.latency(
            f"... waiting for the next scan (0 to {interval:g} s by design)",
            lambda r: [s.waiting for s in r.samples],
        ),
        table.latency(
            "... scan start -> case at the client",
            lambda r: [s.received - s.scan_started for s in r.samples],
        ),
        table.latency(
            "... scan commit -> case at the client", lambda r: [s.delivery for s in r.samples]
        ),
        table.latency(
            f"feed alone: event commit -> client ({len(first.probes)} events)", lambda r: r.probes
        ),
        table.latency(
            f"baseline: raw LISTEN/NOTIFY round trip ({len(first.notify)})", lambda r: r.notify
        ),
        "",
        f"**Target:** p99 of expiry -> client under the scan interval + 2 s = "
        f"{(interval + 2) * 1000:.0f} ms: **{'met' if met else 'NOT met'}** (worst "
        f"repetition {max(p99_total) * 1000:.0f} ms, {(max(p99_total) - interval) * 1000:.0f}"
        f" ms beyond the interval). Feed alone / raw NOTIFY at p50: "
        f"{spread(ratio, lambda v: f'{v:.1f}x')}.",
        "",
        "**Nothing missed, nothing twice** (per repetition): "
        + "; ".join(
            f"{len(r.samples)} of {r.expected} expected cases delivered, {r.duplicates} twice"
            for r in results
        )
        + ".",
        "",
        "| scan cost (this process plays the worker) | value |",
        "|---|---|",
        table.value("scans per repetition", lambda r: float(len(r.scans)), whole),
        table.value(
            "scan that opens cases, ms (median)",
            lambda r: statistics.median(s.ms for s in _busy(r)),
            whole,
        ),
        table.value(
            "scan that opens cases, ms (max)", lambda r: max(s.ms for s in _busy(r)), whole
        ),
        table.value(
            "cases opened per such scan (median)",
            lambda r: statistics.median(s.opened for s in _busy(r)),
            whole,
        ),
        table.value("ms per case opened", _per_case_ms, tenth),
        table.value("scan with nothing due, ms (median)", _idle_ms, tenth),
        table.value("catch-up scan at the start, ms", lambda r: r.catch_up.ms, whole),
        table.value("cases the catch-up scan opened", lambda r: float(r.catch_up.opened), whole),
        "",
        "| scan SQL (EXPLAIN ANALYZE, rolled back) | execution ms | visits rows examined "
        "| rows returned |",
        "|---|---|---|---|",
        table.explained(
            "mid-window, before a scan: runner `awaiting_judgement_query`",
            lambda r: r.busy_sql.late,
        ),
        table.explained(
            "mid-window: runner `awaiting_judgement_query` (same query)",
            lambda r: r.busy_sql.missed,
        ),
        table.explained("mid-window: baseline, hand-written SQL (late)", lambda r: r.busy_sql.raw),
        table.explained("after the window (nothing due): runner, late", lambda r: r.idle_sql.late),
        table.explained("after the window: baseline, hand-written SQL", lambda r: r.idle_sql.raw),
        "",
        _reading(results, interval),
        "",
        "The runner's late-visit plan mid-window (last repetition):",
        "",
        "```",
        results[-1].busy_sql.late.plan_text,
        "```",
    ]
    notes = [note for r in results for note in r.notes]
    if notes:
        lines += ["", "Notes: " + "; ".join(notes) + "."]
    lines.append(END)
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Replace this benchmark's section of RESULTS.md (other benchmarks keep theirs)."""
    current = path.read_text() if path.exists() else "# Benchmark results\n"
    if START in current and END in current:
        before, _, rest = current.partition(START)
        _, _, after = rest.partition(END)
        updated = before + section + after
    else:
        updated = current.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(updated)
