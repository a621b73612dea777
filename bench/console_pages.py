"""What a console page costs against the JSON API route that serves the same data.

One uvicorn process serves the platform app (bench/_apps.py `full_app`). A tenant with ITEMS items and
MEMBERS members has an owner signed in twice: with a bearer token for the API and with the console's
session cookie (signed in through the form). Sequential requests on one keep-alive connection alternate
page and API request by request (ABAB...), so both see the same machine: `GET /items` against
`GET /api/v1/items` (20 a page), `GET /members` against `GET /api/v1/members`. The time of each request
as the client sees it on loopback is server time plus the same small transport cost for both. Goal: a
page's p50 at most 1.5x its API route's. Then the weight of a first visit to the items page: the HTML
and every stylesheet, script and icon it links, as served (uncompressed).

    python -m bench.console_pages [--requests 400] [--warmup 50]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Sequence

import httpx

from bench._common import (
    Goal,
    Report,
    Timer,
    bearer_headers,
    bench_database,
    bench_settings,
    command_line,
    log,
    median,
    percentile,
    services,
)
from bench.auth_overhead import EMAIL, PASSWORD, add_owner
from bench.tenancy_overhead import HOST, seed, serve
from platform_core.access.models import User
from platform_core.access.permissions import builtin_role_id
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.db.engines import Database
from platform_core.kernel.settings import PROJECT_ROOT

MODULE = "bench.console_pages"
GOAL_RATIO = 1.5
GOAL_WEIGHT_KB = 150
MEMBERS = 30
PAIRS = (("items", "/items", "/api/v1/items"), ("members", "/members", "/api/v1/members"))
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
_ASSET = re.compile(r'(?:href|src)="(/assets/[^"]+)"')


def add_members(url: str, redis_url: str, schema: str) -> None:
    """MEMBERS more members, so the members page has a full first page."""
    db = Database(bench_settings(url, redis_url), pool_size=1)
    try:
        with db.sync_session(schema) as session, session.begin():
            session.add_all(
                User(
                    email=f"member{n}@example.com",
                    full_name=f"Member {n}",
                    password_hash=None,
                    role_id=builtin_role_id("member"),
                    email_verified_at=utcnow(),
                )
                for n in range(MEMBERS)
            )
    finally:
        db.dispose_sync()


def console_client(base: str) -> httpx.Client:
    """A client signed in to the console through its form (it keeps the session cookie)."""
    client = httpx.Client(base_url=base, headers={"Host": HOST}, timeout=10)
    form = client.get("/sign-in")
    token = _CSRF.search(form.text)
    if token is None:
        raise RuntimeError(f"no sign-in form: {form.status_code}")
    signed = client.post(
        "/sign-in", data={"csrf_token": token.group(1), "email": EMAIL, "password": PASSWORD}
    )
    if signed.status_code != 303:
        raise RuntimeError(f"console sign-in answered {signed.status_code}: {signed.text[:300]}")
    return client


def timed_get(client: httpx.Client, path: str) -> float:
    """Milliseconds of one GET (which must answer 200)."""
    start = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - start) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} answered {response.status_code}: {response.text[:300]}")
    return elapsed


def page_weight(client: httpx.Client, path: str) -> tuple[int, dict[str, int]]:
    """Bytes of the page and of each asset it links."""
    html = client.get(path).content
    assets = {asset: len(client.get(asset).content) for asset in sorted(set(_ASSET.findall(html.decode())))}
    return len(html), assets


def run(argv: Sequence[str] = ()) -> Report:
    """Run the benchmark; return its report."""
    parser = argparse.ArgumentParser(prog=MODULE, description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests of each kind, measured")
    parser.add_argument("--warmup", type=int, default=50, help="requests of each kind first, not measured")
    args = parser.parse_args(list(argv))
    times: dict[str, list[float]] = {}
    with (
        Timer() as total,
        services() as (server_url, redis_url),
        bench_database(server_url, "console") as url,
    ):
        log(f"console pages: seeding {url.rsplit('/', 1)[-1]}")
        schema = seed(url, redis_url)
        tenant_id, user_id = add_owner(url, redis_url, schema)
        add_members(url, redis_url, schema)
        auth = bearer_headers(bench_settings(url, redis_url), tenant_id, user_id)
        env = dict(os.environ)
        env.update(
            BENCH_DATABASE_URL=url,
            BENCH_REDIS_URL=redis_url,
            BENCH_TENANT_SCHEMA=schema,
            PYTHONPATH=str(PROJECT_ROOT),
            LOGIN_LIMIT_PER_IP="1000000/minute",
        )
        with serve("platform", "bench._apps:full_app", env, auth) as server:
            base = server.url.split("/api/")[0]
            api = httpx.Client(base_url=base, headers={"Host": HOST, **auth}, timeout=10)
            console = console_client(base)
            for name, page_path, api_path in PAIRS:
                for _ in range(args.warmup):
                    timed_get(console, page_path)
                    timed_get(api, api_path)
                pages, apis = [], []
                for n in range(args.requests):
                    if n % 2:
                        apis.append(timed_get(api, api_path))
                        pages.append(timed_get(console, page_path))
                    else:
                        pages.append(timed_get(console, page_path))
                        apis.append(timed_get(api, api_path))
                times[f"{name} page"], times[f"{name} api"] = pages, apis
                log(f"{name}: page p50 {median(pages):.2f} ms, API p50 {median(apis):.2f} ms")
            html_bytes, assets = page_weight(console, "/items")
    rows = []
    goals = []
    for name, page_path, api_path in PAIRS:
        page, api_ms = times[f"{name} page"], times[f"{name} api"]
        ratio = median(page) / median(api_ms)
        rows.append(
            [
                f"`GET {page_path}` / `GET {api_path}`",
                f"{median(page):.2f} / {median(api_ms):.2f}",
                f"{percentile(page, 0.99):.2f} / {percentile(api_ms, 0.99):.2f}",
                f"{ratio:.2f}",
            ]
        )
        goals.append(
            Goal(f"{name} page p50 / API p50", f"<= {GOAL_RATIO}", f"{ratio:.2f}", ratio <= GOAL_RATIO)
        )
    weight = html_bytes + sum(assets.values())
    goals.append(
        Goal(
            "first visit of /items (HTML+CSS+JS)",
            f"< {GOAL_WEIGHT_KB} KB",
            f"{weight / 1024:.1f} KB",
            weight < GOAL_WEIGHT_KB * 1024,
        )
    )
    report = Report(
        title="Console pages against their API routes: server time and page weight",
        command=command_line(MODULE, argv),
        summary=(
            f"The platform app under uvicorn (1 worker). A tenant with 50 items and {MEMBERS + 1} members; "
            "its owner signed in with a bearer token (API) and with the console's cookie (signed in "
            f"through the form). {args.requests} sequential requests of each kind on one keep-alive "
            f"connection each, page and API alternating request by request, after {args.warmup} of each "
            "not measured. Times are as the client sees them on loopback: the server's time plus the same "
            "transport cost for both."
        ),
        elapsed_s=total.elapsed,
    )
    report.tables.append((["pair (page / API)", "p50 ms", "p99 ms", "p50 ratio"], rows))
    report.tables.append(
        (
            ["first visit of /items", "bytes"],
            [["HTML", str(html_bytes)], *[[a, str(b)] for a, b in assets.items()], ["total", str(weight)]],
        )
    )
    report.goals = goals
    return report


def main() -> None:
    """Run from the command line and print the markdown section."""
    print(run(sys.argv[1:]).markdown())


if __name__ == "__main__":
    main()
