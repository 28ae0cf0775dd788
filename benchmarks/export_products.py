"""
Product export: ``MircateGetProductsOperator.execute()`` against a bare ``requests`` paging loop.

The emulator is loaded with the catalog first. The operator reads it through
``MircateHook.iter_products_sliced`` (pages of 500, split by ``updatedAt`` ranges because ``getProducts``
serves at most 10,000 records a query) and writes JSON lines to a local file. The baseline pages the
same catalog with a keyset on ``updatedAt`` (pages of 500, sorted by ``updatedAt`` and ``id``) and writes
the same lines. Each run is its own process, and the two alternate.
"""

from __future__ import annotations

import json
import time
from typing import Any

from harness import (
    EmulatorProcess,
    PartContext,
    Row,
    child_main,
    peak_rss_mib,
    run_part,
    seed_products,
    workdir,
)

SIZE = 100_000
ROUNDS = 2
TINY_SIZE = 2000
TINY_ROUNDS = 1
PAGE_SIZE = 500
SORTS = {"updatedAt": "asc", "id": "asc"}


def part_operator(context: PartContext) -> dict[str, Any]:
    from airflow_provider_mircate.operators.export import MircateGetProductsOperator

    destination = context.workdir / f"operator-{time.time_ns()}.jsonl"
    operator = MircateGetProductsOperator(
        task_id="bench_export", destination=f"file://{destination}", page_size=PAGE_SIZE
    )
    start_rss = peak_rss_mib()
    started = time.perf_counter()
    result = operator.execute({"run_id": "bench"})
    seconds = time.perf_counter() - started
    operator.hook.close()
    lines = sum(1 for _ in open(destination, encoding="utf-8"))
    destination.unlink()
    return {"seconds": seconds, "count": result["count"], "lines": lines, "start_rss_mib": start_rss}


def part_bare(context: PartContext) -> dict[str, Any]:
    import requests

    url, headers = context.method_url("getProducts")
    destination = context.workdir / f"bare-{time.time_ns()}.jsonl"
    session = requests.Session()
    session.headers.update(headers)
    session.trust_env = False
    start_rss = peak_rss_mib()
    started = time.perf_counter()
    cursor: str | None = None
    skip = 0
    count = 0
    requests_sent = 0
    with open(destination, "w", encoding="utf-8") as out:
        while True:
            body: dict[str, Any] = {"pageFrom": skip, "pageSize": PAGE_SIZE, "sorts": SORTS}
            if cursor is not None:
                body["filters"] = {"updatedAt": {"gte": cursor}}
            response = session.post(url, json=body, timeout=(10, 60))
            response.raise_for_status()
            requests_sent += 1
            records = [item["source"] for item in response.json()["products"]]
            for record in records:
                out.write(json.dumps(record))
                out.write("\n")
            count += len(records)
            if len(records) < PAGE_SIZE:
                break
            # Keyset paging: restart at the last updatedAt and skip the records of that instant already read.
            last = records[-1]["updatedAt"]
            same_instant = sum(1 for record in records if record["updatedAt"] == last)
            skip = skip + same_instant if last == cursor else same_instant
            cursor = last
    seconds = time.perf_counter() - started
    session.close()
    destination.unlink()
    return {"seconds": seconds, "count": count, "requests": requests_sent, "start_rss_mib": start_rss}


def run(tiny: bool = False) -> list[Row]:
    size, rounds = (TINY_SIZE, TINY_ROUNDS) if tiny else (SIZE, ROUNDS)
    operator_runs: list[dict[str, Any]] = []
    bare_runs: list[dict[str, Any]] = []
    with workdir("export") as folder, EmulatorProcess(folder) as emulator:
        emulator.reset_catalog()
        seed_products(emulator, size)
        for index in range(rounds):
            order = ("operator", "bare") if index % 2 == 0 else ("bare", "operator")
            for part in order:
                before = len(emulator.control("GET", "requests?method=getProducts")["requests"])
                result = run_part(__file__, part, emulator=emulator, size=size, workdir=folder)
                after = len(emulator.control("GET", "requests?method=getProducts")["requests"])
                result["get_products_requests"] = after - before
                (operator_runs if part == "operator" else bare_runs).append(result)

    for result in operator_runs + bare_runs:
        if result["count"] != size:
            raise RuntimeError(f"The export returned {result['count']} products, expected {size}: {result}")
    operator_seconds = sum(r["seconds"] for r in operator_runs) / len(operator_runs)
    bare_seconds = sum(r["seconds"] for r in bare_runs) / len(bare_runs)
    operator_rss = max(r["peak_rss_mib"] for r in operator_runs)
    bare_rss = max(r["peak_rss_mib"] for r in bare_runs)
    growth = max(r["peak_rss_mib"] - r["start_rss_mib"] for r in operator_runs)
    return [
        Row(
            case="4 export",
            measure=f"{size:,} products to JSONL, pages of {PAGE_SIZE}, vs bare keyset loop",
            provider=size / operator_seconds,
            baseline=size / bare_seconds,
            unit="products/s",
            ratio=bare_seconds / operator_seconds,
            throughput=size / operator_seconds,
            peak_rss_mib=operator_rss,
            note=(
                f"mean of {rounds} run(s) each; getProducts requests {operator_runs[0]['get_products_requests']} "
                f"against {bare_runs[0]['get_products_requests']}; peak RSS {operator_rss:.0f} MiB against "
                f"{bare_rss:.0f} MiB, growth during execute() {growth:.1f} MiB"
            ),
            details={"operator": operator_runs, "bare": bare_runs},
        )
    ]


if __name__ == "__main__":
    child_main({"operator": part_operator, "bare": part_bare}, run)
