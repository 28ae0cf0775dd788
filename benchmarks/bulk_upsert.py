"""
Bulk upsert: ``MircateUpsertProductOperator.execute()`` on a JSON lines file, against two baselines.

The emulator adds a fixed latency to every request. The operator reads the file twice (validation, then
sending) and sends chunks of 500 through ``bulkProductUpsert``, recording each batch in a file checkpoint.
The baselines are a naive loop of one ``upsertProduct`` a product, timed on a sample and extrapolated,
and the bound of one request latency per chunk. The operator runs at two catalog sizes, each in its own
process, to show whether peak RSS grows with the catalog.
"""

from __future__ import annotations

import math
import time
from typing import Any

from harness import (
    EmulatorProcess,
    PartContext,
    Row,
    child_main,
    peak_rss_mib,
    product_record,
    run_part,
    workdir,
    write_products_jsonl,
)

LATENCY_MS = 20.0
SIZES = (10_000, 100_000)
NAIVE_SAMPLE = 1000
TINY_SIZES = (1000, 2000)
TINY_NAIVE_SAMPLE = 50
CHUNK = 500
TARGET_RSS_RATIO = 1.25


def part_operator(context: PartContext) -> dict[str, Any]:
    from airflow_provider_mircate.operators.products import MircateUpsertProductOperator

    source = f"file://{context.workdir}/products-{context.size}.jsonl"

    def build(dry_run: bool) -> MircateUpsertProductOperator:
        return MircateUpsertProductOperator(
            task_id="bench_upsert",
            source=source,
            dry_run=dry_run,
            checkpoint_path=f"file://{context.workdir}/checkpoints/",
            progress_every=context.size + 1,
        )

    run_context: dict[str, Any] = {"run_id": f"bench-{context.size}-{time.time_ns()}"}
    start_rss = peak_rss_mib()

    # A dry run times the validation pass alone. It builds the same key set as the real run, so it
    # does not raise the peak RSS above what the real run reaches anyway.
    dry = build(dry_run=True)
    started = time.perf_counter()
    dry.execute(run_context)
    validation_seconds = time.perf_counter() - started
    dry.hook.close()

    operator = build(dry_run=False)
    started = time.perf_counter()
    result = operator.execute(run_context)
    seconds = time.perf_counter() - started
    operator.hook.close()
    return {
        "seconds": seconds,
        "validation_seconds": validation_seconds,
        "upserted": result["upserted"],
        "batches": len(result["batch_ids"]),
        "start_rss_mib": start_rss,
    }


def part_naive(context: PartContext) -> dict[str, Any]:
    from airflow_provider_mircate.hooks.mircate import MircateHook

    hook = MircateHook()
    records = [product_record(i) for i in range(context.size)]
    hook.get_product_settings()
    started = time.perf_counter()
    for record in records:
        hook.upsert_product(record)
    seconds = time.perf_counter() - started
    hook.close()
    return {"seconds": seconds, "upserted": len(records)}


def run(tiny: bool = False) -> list[Row]:
    sizes = TINY_SIZES if tiny else SIZES
    sample = TINY_NAIVE_SAMPLE if tiny else NAIVE_SAMPLE
    runs: dict[int, dict[str, Any]] = {}
    with workdir("upsert") as folder, EmulatorProcess(folder, latency_ms=LATENCY_MS) as emulator:
        for size in sizes:
            write_products_jsonl(folder / f"products-{size}.jsonl", size)
        for size in sizes:
            emulator.reset_catalog()
            runs[size] = run_part(__file__, "operator", emulator=emulator, size=size, workdir=folder)
            runs[size]["bulk_requests"] = len(
                emulator.control("GET", "requests?method=bulkProductUpsert")["requests"]
            )
        emulator.reset_catalog()
        naive = run_part(__file__, "naive", emulator=emulator, size=sample, workdir=folder)

    large, small = sizes[-1], sizes[0]
    big = runs[large]
    rate = big["upserted"] / big["seconds"]
    naive_rate = naive["upserted"] / naive["seconds"]
    naive_large_seconds = naive["seconds"] / naive["upserted"] * large
    chunks = math.ceil(large / CHUNK)
    bound_seconds = chunks * LATENCY_MS / 1000
    send_seconds = big["seconds"] - big["validation_seconds"]
    rss_large, rss_small = big["peak_rss_mib"], runs[small]["peak_rss_mib"]
    growth_large = rss_large - big["start_rss_mib"]
    growth_small = rss_small - runs[small]["start_rss_mib"]
    details = {"runs": runs, "naive": naive, "latency_ms": LATENCY_MS}
    return [
        Row(
            case="3 bulk upsert",
            measure=f"{large:,} products from JSONL, {LATENCY_MS:g} ms latency, vs naive upsertProduct loop",
            provider=rate,
            baseline=naive_rate,
            unit="products/s",
            ratio=rate / naive_rate,
            throughput=rate,
            peak_rss_mib=rss_large,
            note=(
                f"naive rate timed on {naive['upserted']:,} products and extrapolated: "
                f"{naive_large_seconds:,.0f} s for {large:,} against {big['seconds']:.1f} s; "
                f"{big['bulk_requests']} bulk requests"
            ),
            details=details,
        ),
        Row(
            case="3 bulk upsert",
            measure=(
                f"{large:,} products, sending phase against the bound of {chunks} chunks x {LATENCY_MS:g} ms"
            ),
            provider=send_seconds,
            baseline=bound_seconds,
            unit="s",
            ratio=send_seconds / bound_seconds,
            throughput=large / send_seconds,
            peak_rss_mib=rss_large,
            note=(
                f"sending phase is execute() {big['seconds']:.1f} s minus a dry run (the validation pass) "
                f"{big['validation_seconds']:.1f} s; the bound counts only the fixed latency of one request "
                "a chunk"
            ),
        ),
        Row(
            case="3 bulk upsert",
            measure=f"peak RSS at {large:,} against {small:,} products",
            provider=rss_large,
            baseline=rss_small,
            unit="MiB",
            ratio=rss_large / rss_small,
            target=f"ratio <= {TARGET_RSS_RATIO}",
            met=rss_large / rss_small <= TARGET_RSS_RATIO,
            throughput=runs[small]["upserted"] / runs[small]["seconds"],
            peak_rss_mib=rss_large,
            note=(
                f"growth over the start of execute(): {growth_small:.1f} MiB at {small:,}, "
                f"{growth_large:.1f} MiB at {large:,}"
            ),
        ),
    ]


if __name__ == "__main__":
    child_main({"operator": part_operator, "naive": part_naive}, run)
