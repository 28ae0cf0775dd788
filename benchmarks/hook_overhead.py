"""
Hook call overhead: small calls through ``MircateHook.call`` against a bare ``requests.Session`` loop.

Both sides send ``GET getProductSettings`` to an empty emulator with the same URL, headers and timeout.
They alternate in short rounds (hook then bare, bare then hook ...) so that drift of a shared machine
hits both alike. A burst of load from another process can slow one round several times. The reported
ratio is therefore the median over rounds of hook time divided by bare time, and the note gives the
ratio of the totals.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from harness import EmulatorProcess, PartContext, Row, child_main, run_part, workdir

CALLS = 5000
ROUNDS = 20
TINY_CALLS = 100
TINY_ROUNDS = 4
TARGET_RATIO = 1.15


def part_alternate(context: PartContext) -> dict[str, Any]:
    import requests

    from airflow_provider_mircate.hooks.mircate import MircateHook

    rounds = int(context.options["rounds"])
    per_round = context.size // rounds
    hook = MircateHook()
    settings = hook.settings
    timeout = (settings.connect_timeout, settings.read_timeout)
    url = hook.build_url("getProductSettings", "PIMAPI")

    bare = requests.Session()
    bare.headers.update({"x-api-key": settings.api_key, "Accept": "application/json"})
    bare.trust_env = False

    def hook_round() -> float:
        started = time.perf_counter()
        for _ in range(per_round):
            hook.call("getProductSettings", api_class="PIMAPI", http_method="GET")
        return time.perf_counter() - started

    def bare_round() -> float:
        started = time.perf_counter()
        for _ in range(per_round):
            response = bare.get(url, timeout=timeout)
            response.raise_for_status()
            response.json()
        return time.perf_counter() - started

    # One warm-up call each opens the pooled connections outside the timed rounds.
    warm_answer = hook.call("getProductSettings", api_class="PIMAPI", http_method="GET")
    bare.get(url, timeout=timeout).json()
    hook_times: list[float] = []
    bare_times: list[float] = []
    for index in range(rounds):
        # Swap the order every round so that neither side always runs first.
        if index % 2 == 0:
            hook_times.append(hook_round())
            bare_times.append(bare_round())
        else:
            bare_times.append(bare_round())
            hook_times.append(hook_round())
    hook.close()
    bare.close()
    return {
        "calls_per_side": per_round * rounds,
        "hook_seconds": hook_times,
        "bare_seconds": bare_times,
        "warm_answer_keys": sorted(warm_answer or {}),
    }


def run(tiny: bool = False) -> list[Row]:
    calls, rounds = (TINY_CALLS, TINY_ROUNDS) if tiny else (CALLS, ROUNDS)
    with workdir("hook") as folder, EmulatorProcess(folder) as emulator:
        result = run_part(
            __file__, "alternate", emulator=emulator, size=calls, workdir=folder, options={"rounds": rounds}
        )
    hook_total = sum(result["hook_seconds"])
    bare_total = sum(result["bare_seconds"])
    count = result["calls_per_side"]
    hook_us = hook_total / count * 1e6
    bare_us = bare_total / count * 1e6
    per_round = sorted(h / b for h, b in zip(result["hook_seconds"], result["bare_seconds"], strict=True))
    ratio = statistics.median(per_round)
    return [
        Row(
            case="2 hook call overhead",
            measure=f"{count:,} GET getProductSettings a side, {rounds} alternating rounds",
            provider=hook_us,
            baseline=bare_us,
            unit="us/call",
            ratio=ratio,
            target=f"ratio <= {TARGET_RATIO}",
            met=ratio <= TARGET_RATIO,
            throughput=count / hook_total,
            peak_rss_mib=result["peak_rss_mib"],
            note=(
                f"median of {rounds} per-round ratios ({min(per_round):.2f} to {max(per_round):.2f}), "
                f"ratio of totals {hook_total / bare_total:.2f}; {count / hook_total:,.0f} calls/s through the hook"
            ),
            details=result,
        )
    ]


if __name__ == "__main__":
    child_main({"alternate": part_alternate}, run)
