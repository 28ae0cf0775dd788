"""
Sensor load: ``MircateBatchStatusTrigger`` polling many running batches, then a window of HTTP 429 only.

The emulator processes bulk items very slowly, so every batch stays PENDING or RUNNING for the whole
run. The triggers run under one asyncio event loop, as in a triggerer, in two layouts: one trigger for
all batches (what the upsert operator defers) and one trigger per batch (one sensor per batch). The
request counts come from the emulator's request log. During the 429 window every API request gets
HTTP 429 without ``Retry-After``, so the hook's backoff and then the trigger's own doubling wait set
the request rate. The baseline is the steady poll rate of the same layout.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from harness import (
    EmulatorProcess,
    PartContext,
    Row,
    child_main,
    control,
    product_record,
    run_part,
    workdir,
)

BATCHES = 200
POLL_INTERVAL = 10.0
STEADY_SECONDS = 60.0
FAULT_SECONDS = 60.0
TINY = {"batches": 10, "poll_interval": 0.5, "steady_seconds": 1.5, "fault_seconds": 1.5}
# Seconds to wait for the first status request of a layout before the run fails.
FIRST_POLL_TIMEOUT = 120.0
# Items a second the emulator processes: one product a batch then takes 1,000 s.
BATCH_RATE = 0.001
LAYOUTS = ("one trigger for all batches", "one trigger per batch")


def create_batches(context: PartContext, count: int) -> list[str]:
    """Start ``count`` bulk batches of one product each and return their ids."""
    import requests

    url, headers = context.method_url("bulkProductUpsert")
    batch_ids = []
    with requests.Session() as session:
        session.trust_env = False
        session.headers.update(headers)
        for index in range(count):
            product = product_record(index)
            product["data"]["attributes"] = []
            response = session.post(url, json={"products": [product]}, timeout=(10, 60))
            response.raise_for_status()
            batch_ids.append(response.json()["batchId"])
    return batch_ids


async def poll(context: PartContext, batch_ids: list[str], layout: str) -> dict[str, float]:
    from airflow_provider_mircate.triggers.batch import MircateBatchStatusTrigger

    options = context.options
    poll_interval = float(options["poll_interval"])
    if layout == LAYOUTS[0]:
        groups = [batch_ids]
    else:
        groups = [[batch_id] for batch_id in batch_ids]
    triggers = [MircateBatchStatusTrigger(batch_ids=group, poll_interval=poll_interval) for group in groups]

    async def consume(trigger: MircateBatchStatusTrigger) -> None:
        async for event in trigger.run():
            raise RuntimeError(f"A trigger fired while its batches were still running: {event.payload}")

    launched = time.time()
    tasks = [asyncio.create_task(consume(trigger)) for trigger in triggers]
    # The steady window starts at the first status request, not at task creation. On a loaded machine
    # the first request can take longer than the whole tiny window, which left it empty.
    started = await first_poll_time(context.url, launched)
    await asyncio.sleep(max(0.0, started + float(options["steady_seconds"]) - time.time()))
    fault_start = time.time()
    await asyncio.to_thread(control, context.url, "POST", "faults", {"rate": 1.0, "kinds": ["429"]})
    await asyncio.sleep(float(options["fault_seconds"]))
    fault_end = time.time()
    await asyncio.to_thread(control, context.url, "POST", "faults", {"clear": True})
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [
        r for r in results if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)
    ]
    if failures:
        raise failures[0]
    return {"started": started, "fault_start": fault_start, "fault_end": fault_end}


async def first_poll_time(url: str, after: float) -> float:
    """Return the time of the first ``checkBatchStatus`` request logged at or after ``after``."""
    deadline = time.monotonic() + FIRST_POLL_TIMEOUT
    while True:
        log = await asyncio.to_thread(control, url, "GET", "requests?method=checkBatchStatus")
        times = [entry["time"] for entry in log["requests"] if entry["time"] >= after]
        if times:
            return float(min(times))
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"No checkBatchStatus request within {FIRST_POLL_TIMEOUT:g} s of starting the triggers."
            )
        # The emulator runs in another process, so its request log can only be polled.
        await asyncio.sleep(0.05)


def part_poll(context: PartContext) -> dict[str, Any]:
    """Run each layout in turn on fresh batches; the windows of one layout end before the next starts."""
    windows = {}
    for layout in context.options["layouts"]:
        batch_ids = create_batches(context, context.size)
        windows[layout] = asyncio.run(poll(context, batch_ids, layout))
    log = control(context.url, "GET", "requests?method=checkBatchStatus")["requests"]
    return {
        "windows": windows,
        "request_times": [entry["time"] for entry in log],
        "statuses": _count_statuses(log),
    }


def _count_statuses(log: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in log:
        key = str(entry["status"])
        counts[key] = counts.get(key, 0) + 1
    return counts


def summarize(
    times: list[float], window: dict[str, float], batches: int, poll_interval: float
) -> dict[str, float]:
    """Return the steady requests per batch per minute and the request rates of the 429 window."""
    started, fault_start, fault_end = window["started"], window["fault_start"], window["fault_end"]
    steady = [t for t in times if started <= t < fault_start]
    faulted = [t for t in times if fault_start <= t < fault_end]
    steady_seconds = fault_start - started
    fault_seconds = fault_end - fault_start
    buckets: dict[int, int] = {}
    for moment in faulted:
        second = int(moment - fault_start)
        buckets[second] = buckets.get(second, 0) + 1
    tail_start = fault_end - min(10.0, fault_seconds / 2)
    tail = [t for t in faulted if t >= tail_start]
    return {
        "per_batch_per_minute": len(steady) / batches / (steady_seconds / 60),
        "expected_per_batch_per_minute": 60 / poll_interval,
        "steady_rps": len(steady) / steady_seconds,
        "fault_rps": len(faulted) / fault_seconds,
        "fault_peak_rps": float(max(buckets.values(), default=0)),
        "fault_tail_rps": len(tail) / (fault_end - tail_start),
        "fault_requests": float(len(faulted)),
    }


def run(tiny: bool = False) -> list[Row]:
    if tiny:
        batches, poll_interval = TINY["batches"], TINY["poll_interval"]
        steady_seconds, fault_seconds = TINY["steady_seconds"], TINY["fault_seconds"]
    else:
        batches, poll_interval = BATCHES, POLL_INTERVAL
        steady_seconds, fault_seconds = STEADY_SECONDS, FAULT_SECONDS
    options = {
        "layouts": list(LAYOUTS),
        "poll_interval": poll_interval,
        "steady_seconds": steady_seconds,
        "fault_seconds": fault_seconds,
    }
    with workdir("sensor") as folder, EmulatorProcess(folder, batch_rate=BATCH_RATE) as emulator:
        emulator.reset_catalog()
        result = run_part(__file__, "poll", emulator=emulator, size=batches, workdir=folder, options=options)
    rows = []
    for layout in LAYOUTS:
        figures = summarize(
            result["request_times"], result["windows"][layout], int(batches), float(poll_interval)
        )
        rows.append(
            Row(
                case="6 sensor load",
                measure=f"{batches} running batches, {layout}, poll_interval {poll_interval:g} s",
                provider=figures["per_batch_per_minute"],
                baseline=figures["expected_per_batch_per_minute"],
                unit="requests/batch/min",
                ratio=figures["per_batch_per_minute"] / figures["expected_per_batch_per_minute"],
                throughput=figures["steady_rps"],
                peak_rss_mib=result["peak_rss_mib"],
                note=f"baseline is 60 s / poll_interval; {steady_seconds:g} s window",
                details={
                    "figures": figures,
                    "statuses": result["statuses"],
                    "rss_note": "one process runs both layouts",
                },
            )
        )
        rows.append(fault_row(figures, batches, layout, fault_seconds, result["peak_rss_mib"]))
    return rows


def fault_row(
    figures: dict[str, float], batches: int, layout: str, fault_seconds: float, peak_rss_mib: float | None
) -> Row:
    """Return the 429 window row, whose ratio is not measurable when the steady window had no request."""
    steady_rps = figures["steady_rps"]
    note = (
        f"baseline is the steady poll rate; busiest second {figures['fault_peak_rps']:.0f} "
        f"requests, last {min(10.0, fault_seconds / 2):g} s {figures['fault_tail_rps']:.1f}/s"
    )
    ratio: float | None = None
    met: bool | None = None
    if steady_rps > 0:
        ratio = figures["fault_rps"] / steady_rps
        met = figures["fault_rps"] <= 1.5 * steady_rps
    else:
        note = f"ratio not measurable: no request in the steady window; {note}"
    return Row(
        case="6 sensor load",
        measure=f"{batches} batches, {layout}, {fault_seconds:g} s of HTTP 429 on every request",
        provider=figures["fault_rps"],
        baseline=steady_rps,
        unit="requests/s",
        ratio=ratio,
        target="no retry storm: ratio <= 1.5",
        met=met,
        throughput=figures["fault_rps"] or steady_rps,
        peak_rss_mib=peak_rss_mib,
        note=note,
        details={"figures": figures},
    )


if __name__ == "__main__":
    child_main({"poll": part_poll}, run)
