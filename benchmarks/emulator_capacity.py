"""
Measure how many small requests per second the Mircate emulator serves on one core.

The emulator runs in a child process pinned to one CPU; this process drives it from another CPU with
keep-alive ``http.client`` connections (stdlib only), first with getProductSettings (GET, no body), then
with a small upsertProduct. The last line printed is one JSON object with the figures.

Usage: python benchmarks/emulator_capacity.py [--seconds 3] [--connections 4]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def start_emulator(ready_file: Path) -> subprocess.Popen[bytes]:
    """Start the emulator console script on a free port and wait for its ready file."""
    command = [sys.executable, "-m", "airflow_provider_mircate.testing.emulator.cli", "--port", "0",
               "--ready-file", str(ready_file)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    # The ready file is written before the first line of output, so one line means it is there.
    process.stdout.readline()
    if not ready_file.exists():
        process.kill()
        raise RuntimeError("The emulator exited before it was ready.")
    return process


def pin_cpus(emulator_pid: int) -> tuple[int | None, int | None]:
    """Pin the emulator to one CPU and this process to another; return the two CPU numbers, or None."""
    if not hasattr(os, "sched_setaffinity"):
        return None, None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    os.sched_setaffinity(emulator_pid, {cpus[0]})
    os.sched_setaffinity(0, {cpus[1]})
    return cpus[0], cpus[1]


def drive(port: int, path: str, method: str, body: bytes | None, headers: dict[str, str], seconds: float,
          connections: int) -> tuple[int, int, float]:  # fmt: skip
    """Send requests back to back on ``connections`` keep-alive connections; return (ok, failed, elapsed)."""
    counts = [[0, 0] for _ in range(connections)]
    deadline = time.monotonic() + seconds

    def worker(slot: list[int]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.monotonic() < deadline:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            slot[0 if response.status == 200 else 1] += 1
        connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(slot,)) for slot in counts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return sum(c[0] for c in counts), sum(c[1] for c in counts), elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each scenario, seconds")
    parser.add_argument("--connections", type=int, default=4, help="keep-alive connections driving the load")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        ready_file = Path(folder) / "ready.json"
        process = start_emulator(ready_file)
        try:
            info = json.loads(ready_file.read_text())
            emulator_cpu, driver_cpu = pin_cpus(process.pid)
            conn = json.loads(info["conn_json"])
            port = conn["port"]
            prefix = f"/{conn['extra']['project_id']}/CALL/PIMAPI"
            headers = {"x-api-key": conn["password"], "Content-Type": "application/json"}
            settings_path = f"{prefix}/getProductSettings/{conn['login']}"
            upsert_path = f"{prefix}/upsertProduct/{conn['login']}"
            upsert_body = json.dumps(
                {"dataType": "PRODUCT", "data": {"sku": "BENCH_1", "family": "shoes", "status": "DRAFT"}}
            ).encode()

            results = {}
            for name, path, verb, body in (
                ("getProductSettings", settings_path, "GET", None),
                ("upsertProduct", upsert_path, "POST", upsert_body),
            ):
                ok, failed, elapsed = drive(port, path, verb, body, headers, args.seconds, args.connections)
                results[name] = round(ok / elapsed)
                print(f"{name}: {ok / elapsed:.0f} requests/s ({ok} ok, {failed} failed in {elapsed:.1f} s)")
        finally:
            process.terminate()
            process.wait(timeout=30)

    summary = {
        "getProductSettings_rps": results["getProductSettings"],
        "upsertProduct_rps": results["upsertProduct"],
        "seconds": args.seconds,
        "connections": args.connections,
        "emulator_cpu": emulator_cpu,
        "driver_cpu": driver_cpu,
        "python": sys.version.split()[0],
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
