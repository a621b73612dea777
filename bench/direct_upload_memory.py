"""Peak memory of the API process during a direct upload: a large file against a small one.

The platform app runs under uvicorn (1 worker) with moto's S3 server; the benchmark signs in as a
tenant owner and sends `POST /api/v1/uploads/direct` over loopback with httpx, the body streamed from
a generator. Rounds alternate a small file (the baseline) and a large one. Before each upload the
server's peak resident set is reset (`/proc/<pid>/clear_refs` = 5) and read after it (`VmHWM`), so each
upload gets its own peak. What a request holds is bounded by the part size (8 MiB), not by the file.

    python -m bench.direct_upload_memory [--rounds 4] [--large-mib 96]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

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
    services,
)
from bench.auth_overhead import add_owner
from bench.tenancy_overhead import HOST, seed, serve
from platform_core.devstack.s3 import local_s3
from platform_core.kernel.settings import PROJECT_ROOT
from platform_core.uploads.direct import PART_BYTES

MODULE = "bench.direct_upload_memory"
MiB = 1024**2
SMALL_BYTES = 4 * 1024
CHUNK = 256 * 1024
BOUNDARY = "bench-direct-upload"


def _body(size: int) -> Iterator[bytes]:
    """A one-file form of `size` bytes, produced a chunk at a time."""
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="bench.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    block = os.urandom(CHUNK)
    for start in range(0, size, CHUNK):
        yield block[: min(CHUNK, size - start)]
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def _upload(client: httpx.Client, pid: int, size: int) -> tuple[float, float]:
    """Upload `size` bytes; return the server's resident MiB before and its peak during the upload."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _status_kib(pid, "VmRSS") / 1024
    response = client.post(
        "/api/v1/uploads/direct",
        content=_body(size),
        headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    if response.status_code != 201 or response.json()["size_bytes"] != size:
        raise RuntimeError(f"upload of {size} bytes answered {response.status_code}: {response.text[:300]}")
    peak = _status_kib(pid, "VmHWM") / 1024
    deleted = client.delete(f"/api/v1/uploads/{response.json()['id']}")
    if deleted.status_code != 204:
        raise RuntimeError(f"delete answered {deleted.status_code}")
    return before, peak


def run(argv: Sequence[str] = ()) -> Report:
    """Run the benchmark; return its report."""
    parser = argparse.ArgumentParser(prog=MODULE, description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds (small, large)")
    parser.add_argument("--large-mib", type=int, default=96, help="size of the large file")
    args = parser.parse_args(list(argv))
    large = args.large_mib * MiB
    rows: list[list[str]] = []
    small_growth: list[float] = []
    large_growth: list[float] = []
    with (
        Timer() as total,
        services() as (server_url, redis_url),
        bench_database(server_url, "direct") as url,
        tempfile.TemporaryDirectory() as workdir,
        local_s3(Path(workdir), bucket="bench-direct") as s3,
    ):
        log(f"direct upload memory: seeding {url.rsplit('/', 1)[-1]}")
        schema = seed(url, redis_url)
        settings = bench_settings(url, redis_url)
        tenant_id, owner_id = add_owner(url, redis_url, schema)
        auth = bearer_headers(settings, tenant_id, owner_id)
        env = dict(os.environ)
        env.update(
            ENV="test",
            DATABASE_URL=url,
            REDIS_URL=redis_url,
            BENCH_DATABASE_URL=url,
            BENCH_REDIS_URL=redis_url,
            PYTHONPATH=str(PROJECT_ROOT),
            S3_DIRECT_UPLOAD_MAX_BYTES=str(large + MiB),
            LOG_LEVEL="WARNING",
            **s3.environ(),
        )
        with (
            serve("full", "bench._apps:full_app", env, headers=auth) as server,
            httpx.Client(
                base_url=f"http://127.0.0.1:{server.port}", headers={**auth, "Host": HOST}, timeout=120
            ) as client,
        ):
            pid = server.process.pid
            _upload(client, pid, SMALL_BYTES)  # warm up: imports, connections, the boto3 client
            for number in range(1, args.rounds + 1):
                for label, size, growth in (
                    ("small", SMALL_BYTES, small_growth),
                    ("large", large, large_growth),
                ):
                    before, peak = _upload(client, pid, size)
                    growth.append(peak - before)
                    rows.append([str(number), label, f"{size / MiB:.3f}", f"{before:.1f}", f"{peak:.1f}"])
                    log(f"round {number} {label}: rss {before:.1f} MiB, peak {peak:.1f} MiB")
    extra = statistics.median(large_growth) - statistics.median(small_growth)
    bound = 4 * PART_BYTES / MiB
    report = Report(
        title="Direct upload memory",
        command=command_line(MODULE, argv),
        summary=(
            f"Peak resident memory of the API process (uvicorn, 1 worker) while it receives one direct "
            f"upload, {args.rounds} alternating rounds of a {SMALL_BYTES // 1024} KiB file and a "
            f"{args.large_mib} MiB file streamed by httpx over loopback to moto's S3 server. Growth is "
            f"the peak during the upload minus the resident memory just before it (peak reset per upload)."
        ),
        tables=[(["round", "file", "MiB", "RSS before (MiB)", "peak during upload (MiB)"], rows)],
        goals=[
            Goal(
                name=f"extra peak of a {args.large_mib} MiB upload over a {SMALL_BYTES // 1024} KiB one",
                target=f"<= {bound:.0f} MiB (4 parts of {PART_BYTES // MiB} MiB)",
                measured=f"{extra:.1f} MiB",
                met=extra <= bound,
            )
        ],
        notes=[
            f"median growth: small {statistics.median(small_growth):.1f} MiB, "
            f"large {statistics.median(large_growth):.1f} MiB",
        ],
    )
    report.elapsed_s = total.elapsed
    return report


def main() -> None:
    """Run from the command line and print the markdown section."""
    print(run(sys.argv[1:]).markdown())


if __name__ == "__main__":
    main()
