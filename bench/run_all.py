"""Run every benchmark and (re)write bench/RESULTS.md: `make bench`, or `python -m bench.run_all`.

    python -m bench.run_all [--only NAME,NAME...]   (names: see BENCHMARKS and BY_HAND below)

The benchmarks in BY_HAND take long (another system installed beside the platform, thousands of
tenants) and run only when named: `--only peer_django_tenants` (`make bench-peer`). Their sections live
below the line BY_HAND_HEADING of RESULTS.md, each replaced when it runs again and kept otherwise, so
a `make bench` keeps them and a by-hand run keeps the rest of the file.

Services come from DATABASE_URL/REDIS_URL, or are started locally (see bench/README.md). A benchmark
that fails is reported as failed in RESULTS.md and the others still run; the exit status is 1 then.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import (
    auth_overhead,
    billing_enforcement,
    console_pages,
    direct_upload_memory,
    fleet_migration,
    outbox_delivery,
    peer_django_tenants,
    provisioning,
    realtime,
    signin_contention,
    tenancy_overhead,
    tenant_scale,
    webhook_ingestion,
)
from bench._common import (
    BENCH_DIR,
    Report,
    Timer,
    code_version,
    command_line,
    log,
    machine_facts,
    now_iso,
    services,
)
from platform_core.kernel.settings import PROJECT_ROOT

# name -> (module, function, arguments). The tenancy benchmark runs twice: with a pool as large as the
# load's concurrency (the goal: what tenancy itself costs), and with the platform's default pool, smaller
# than the load, reported for the connection churn it shows in both apps (bench/README.md).
BENCHMARKS: dict[str, tuple[str, Callable[[Sequence[str]], Report], tuple[str, ...]]] = {
    "tenancy_overhead": ("bench.tenancy_overhead", tenancy_overhead.run, ("--rounds", "8", "--report-only")),
    "tenancy_overhead_pool16": (
        "bench.tenancy_overhead",
        tenancy_overhead.run,
        ("--rounds", "12", "--pool-size", "16"),
    ),
    "auth_overhead": ("bench.auth_overhead", auth_overhead.run, ("--rounds", "8")),
    "auth_overhead_nocache": (
        "bench.auth_overhead",
        auth_overhead.run,
        ("--rounds", "6", "--logins", "10", "--no-principal-cache"),
    ),
    "signin_contention": ("bench.signin_contention", signin_contention.run, ()),
    "provisioning": ("bench.provisioning", provisioning.run, ("--rounds", "10", "--existing", "300")),
    "fleet_migration": ("bench.fleet_migration", fleet_migration.run, ()),
    "outbox_delivery": ("bench.outbox_delivery", outbox_delivery.run, ()),
    "webhook_ingestion": ("bench.webhook_ingestion", webhook_ingestion.run, ()),
    "billing_enforcement": ("bench.billing_enforcement", billing_enforcement.run, ()),
    "direct_upload_memory": ("bench.direct_upload_memory", direct_upload_memory.run, ()),
    "console_pages": ("bench.console_pages", console_pages.run, ()),
    "realtime": ("bench.realtime", realtime.run, ()),
}
BY_HAND: dict[str, tuple[str, Callable[[Sequence[str]], Report], tuple[str, ...]]] = {
    "peer_django_tenants": ("bench.peer_django_tenants", peer_django_tenants.run, ()),
    "tenant_scale": ("bench.tenant_scale", tenant_scale.run, ()),
    "tenant_scale_1k": (
        "bench.tenant_scale",
        tenant_scale.run,
        ("--tenants", "1000", "--rounds", "1", "--warmup", "60"),
    ),
    "provisioning_10k": ("bench.provisioning", provisioning.run, ()),
    "fleet_migration_10k": (
        "bench.fleet_migration",
        fleet_migration.run,
        ("--tenants", "10000", "--provision", "clone", "--provision-threads", "3"),
    ),
}
BY_HAND_HEADING = "# Benchmarks run by hand"


def split_results(text: str) -> tuple[str, dict[str, str]]:
    """RESULTS.md as its `make bench` part and its by-hand sections (by title, in order)."""
    head, _, tail = text.partition(BY_HAND_HEADING)
    sections: dict[str, str] = {}
    for chunk in tail.split("\n## ")[1:]:
        title = chunk.split("\n", 1)[0].strip()
        sections[title] = "## " + chunk.rstrip() + "\n"
    return head.rstrip() + "\n", sections


def join_results(head: str, sections: dict[str, str]) -> str:
    """The inverse of `split_results`."""
    if not sections:
        return head
    intro = (
        "Each section below was written by the command it names (`python -m bench.run_all --only NAME`),"
        " at the commit and on the date it names; `make bench` keeps them."
    )
    return "\n".join([head.rstrip(), "", BY_HAND_HEADING, "", intro, "", *sections.values()]).rstrip() + "\n"


def relative_paths(text: str) -> str:
    """Strip this machine's absolute paths (project, Python, temp dir) from a traceback."""
    for prefix, name in (
        (str(PROJECT_ROOT) + "/", ""),
        (sys.prefix + "/", "<venv>/"),
        (sys.base_prefix + "/", "<python>/"),
        (tempfile.gettempdir() + "/", "<tmp>/"),
    ):
        text = text.replace(prefix, name)
    return text


def render(
    reports: list[Report],
    failures: dict[str, str],
    facts: dict[str, str],
    started: str,
    elapsed: float,
    service_source: str,
    version: str,
) -> str:
    """RESULTS.md."""
    lines = [
        "# Benchmark results",
        "",
        "Written by `python -m bench.run_all` (`make bench`); do not edit by hand. How to run and read "
        "them: bench/README.md.",
        "",
        "- command: `make bench` (= `.venv/bin/python -m bench.run_all`); each section names the command "
        "that reruns it alone",
        f"- date: {started} (UTC), total run time {elapsed:.0f} s",
        f"- code: commit {version} (at the start of the run)",
        f"- services: {service_source}",
        f"- machine: {facts['cores']} cores ({facts['cpu']}), {facts['os']}, Python {facts['python']}, "
        f"PostgreSQL {facts['postgresql']} (autovacuum {facts['autovacuum']}), loopback",
        "- the machine is shared and noisy: throughput is compared as ratios within one run, with the "
        "baseline and candidate interleaved, and medians are reported",
        "",
        "## Goals",
        "",
        "| benchmark | goal | target | measured | met |",
        "| --- | --- | --- | --- | --- |",
    ]
    for report in reports:
        for goal in report.goals:
            met = "yes" if goal.met else "NO"
            lines.append(
                f"| {report.title.split(':')[0]} | {goal.name} | {goal.target} | {goal.measured} | {met} |"
            )
    for name, error in failures.items():
        lines.append(f"| {name} | (benchmark failed) | | {error.splitlines()[-1][:120]} | NO |")
    lines.append("")
    for report in reports:
        lines.append(report.markdown())
    for name, error in failures.items():
        lines += [f"## {name}: FAILED", "", "```", error.rstrip(), "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks and write RESULTS.md; return the exit status."""
    parser = argparse.ArgumentParser(prog="bench.run_all", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated benchmark names")
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "RESULTS.md")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(names) - set(BENCHMARKS) - set(BY_HAND)
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")

    started = now_iso()
    version = code_version()
    service_source = (
        "PostgreSQL and Redis from DATABASE_URL/REDIS_URL (loopback)"
        if os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")
        else "local PostgreSQL and Redis started under .dev/bench (LocalStack)"
    )
    reports: list[Report] = []
    failures: dict[str, str] = {}
    with Timer() as total, services() as (database_url, _redis_url):
        facts = machine_facts(database_url)
        for name in names:
            log(f"=== {name}")
            module, run, argv = BENCHMARKS.get(name) or BY_HAND[name]
            try:
                report = run(argv)
            except Exception:
                failures[name] = relative_paths(traceback.format_exc())
                log(f"{name} failed:\n{failures[name]}")
                continue
            report.command = command_line(module, argv)
            reports.append(report)
            print(report.markdown(), flush=True)
    old_head, by_hand = split_results(args.output.read_text() if args.output.exists() else "")
    regular: list[Report] = []
    for report, name in zip(reports, _succeeded(names, failures), strict=True):
        if name in BY_HAND:
            by_hand[report.title] = report.markdown().rstrip() + "\n"
        else:
            regular.append(report)
    regular_failures = {name: error for name, error in failures.items() if name in BENCHMARKS}
    for name in failures:
        if name in BY_HAND:
            log(f"{name} failed; its section in {args.output.name} is left as it was")
    ran_regular = any(name in BENCHMARKS for name in names)
    head = (
        render(regular, regular_failures, facts, started, total.elapsed, service_source, version)
        if ran_regular
        else old_head
    )
    args.output.write_text(join_results(head, by_hand))
    log(f"wrote {args.output.name} ({total.elapsed:.0f} s)")
    return 1 if failures else 0


def _succeeded(names: Sequence[str], failures: dict[str, str]) -> list[str]:
    return [name for name in names if name not in failures]


if __name__ == "__main__":
    sys.exit(main())
