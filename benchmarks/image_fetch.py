"""
Image fetch: ``MircateImageFetchOperator`` at concurrency 8 against a sequential ``HttpHook`` loop.

    .venv/bin/python benchmarks/image_fetch.py            # 500 images at 50 ms emulator latency
    .venv/bin/python benchmarks/image_fetch.py --tiny     # 20 images, only to prove the case still works

The emulator runs in its own process (the ``mircate-emulator`` command line with ``--ready-file``) and
every request waits ``--latency-ms``. Images are stored through ``attachCategoryImage``: a 64x64 PNG
with a text chunk that makes each file distinct and sets its size. Each measured case runs in a fresh
child process that reports its wall time and peak RSS (``ru_maxrss``), so the figures are its own:

- ``operator``: ``MircateImageFetchOperator.execute`` with ``max_concurrency`` threads into a local folder.
- ``sequential``: one ``HttpHook.run`` per image and a plain file write, one image at a time.
- ``operator`` again with images ten times larger, to compare peak RSS at 1x and 10x total bytes.

The ideal bound is images x latency / concurrency: the wall time if only the emulator's delay counted.
The script prints a table and, last, one JSON line; ``--json PATH`` also writes ``{"rows": [...]}``.
"""

from __future__ import annotations

import argparse
import base64
import json
import struct
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness import EmulatorProcess, PartContext, child_main, peak_rss_mib, run_part, workdir

IMAGES = 500
TINY_IMAGES = 20
LATENCY_MS = 50.0
CONCURRENCY = 8
SMALL_IMAGE_BYTES = 7_500
LARGE_FACTOR = 10
SETUP_THREADS = 16


# -- image set ------------------------------------------------------------------------------------


def padded_png(base: bytes, index: int, size: int) -> bytes:
    """Return the PNG ``base`` plus a tEXt chunk: distinct bytes for each index, ``size`` bytes in all."""
    iend = base.rindex(b"IEND") - 4
    prefix = b"Comment\x00" + f"image {index} ".encode()
    padding = max(0, size - len(base) - 12 - len(prefix))
    data = prefix + b"x" * padding
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))
    return base[:iend] + chunk + base[iend:]


def seed_images(emulator: EmulatorProcess, count: int, size: int, listing: Path) -> int:
    """Attach ``count`` distinct images of about ``size`` bytes; write their filenames to ``listing``."""
    import requests

    from airflow_provider_mircate.testing.emulator import make_test_image

    prefix, account, headers = emulator.api_target()
    base = make_test_image(64, 64, seed=7, format="png")
    session = requests.Session()
    session.trust_env = False
    session.headers.update(headers)
    session.post(
        f"{prefix}/upsertCategory/{account}", json={"category": {"code": "bench"}}
    ).raise_for_status()

    def attach(index: int) -> tuple[str, int]:
        data = padded_png(base, index, size)
        body = {"image": base64.b64encode(data).decode(), "categoryCode": "bench", "extension": "png"}
        response = session.post(f"{prefix}/attachCategoryImage/{account}", json=body)
        response.raise_for_status()
        return response.json()["filename"], len(data)

    with ThreadPoolExecutor(SETUP_THREADS) as pool:
        results = list(pool.map(attach, range(count)))
    listing.write_text("".join(f"{name}\n" for name, _ in results))
    return sum(size for _, size in results)


# -- measured parts, each in its own process ------------------------------------------------------


def part_operator(context: PartContext) -> dict[str, Any]:
    from airflow_provider_mircate.operators.images import MircateImageFetchOperator

    destination = context.workdir / f"operator-{time.monotonic_ns()}"
    operator = MircateImageFetchOperator(
        task_id="bench",
        filenames_path=context.options["listing"],
        destination=str(destination),
        max_concurrency=int(context.options["concurrency"]),
    )
    start_rss = peak_rss_mib()
    started = time.perf_counter()
    result = operator.execute({})
    wall = time.perf_counter() - started
    stored = sum(p.stat().st_size for p in destination.iterdir() if p.name != "manifest.jsonl")
    return {"wall_s": wall, "images": result["fetched"], "bytes": stored, "start_rss_mib": start_rss}


def part_sequential(context: PartContext) -> dict[str, Any]:
    import os

    from airflow.providers.http.hooks.http import HttpHook

    conn = json.loads(context.emulator["conn_json"])
    os.environ["AIRFLOW_CONN_BENCH_HTTP"] = json.dumps(
        {"conn_type": "http", "host": "127.0.0.1", "port": conn["port"], "schema": "http"}
    )
    endpoint = f"{conn['extra']['project_id']}/CALL/PIMAPI/getImage/{conn['login']}"
    headers = {"x-api-key": conn["password"]}
    names = Path(context.options["listing"]).read_text().split()
    destination = context.workdir / f"sequential-{time.monotonic_ns()}"
    destination.mkdir()
    hook = HttpHook(method="GET", http_conn_id="bench_http")

    start_rss = peak_rss_mib()
    started = time.perf_counter()
    stored = 0
    for name in names:
        response = hook.run(endpoint, data={"filename": name}, headers=headers)
        (destination / name).write_bytes(response.content)
        stored += len(response.content)
    wall = time.perf_counter() - started
    return {"wall_s": wall, "images": len(names), "bytes": stored, "start_rss_mib": start_rss}


PARTS = {"operator": part_operator, "sequential": part_sequential}


# -- the case -------------------------------------------------------------------------------------


def measure(tiny: bool, latency_ms: float, concurrency: int) -> dict[str, Any]:
    """Seed two image sets, run the three parts and return their figures."""
    count = TINY_IMAGES if tiny else IMAGES
    with workdir("images") as folder, EmulatorProcess(folder, latency_ms=latency_ms) as emulator:
        small, large = folder / "small.txt", folder / "large.txt"
        small_bytes = seed_images(emulator, count, SMALL_IMAGE_BYTES, small)
        large_bytes = seed_images(emulator, count, SMALL_IMAGE_BYTES * LARGE_FACTOR, large)

        def part(name: str, listing: Path) -> dict[str, Any]:
            options = {"listing": str(listing), "concurrency": concurrency}
            return run_part(__file__, name, emulator=emulator, size=count, workdir=folder, options=options)

        operator = part("operator", small)
        sequential = part("sequential", small)
        operator_large = part("operator", large)
    return {
        "images": count,
        "latency_ms": latency_ms,
        "concurrency": concurrency,
        "small_total_bytes": small_bytes,
        "large_total_bytes": large_bytes,
        "operator": operator,
        "sequential": sequential,
        "operator_10x": operator_large,
    }


def summarize(figures: dict[str, Any]) -> dict[str, Any]:
    """Derive the ratios from the measured figures."""
    count, latency, concurrency = figures["images"], figures["latency_ms"] / 1000, figures["concurrency"]
    ideal = count * latency / concurrency
    operator, sequential, large = figures["operator"], figures["sequential"], figures["operator_10x"]
    for name in ("operator", "sequential", "operator_10x"):
        for key in ("images", "bytes"):
            expected = (
                count
                if key == "images"
                else figures["large_total_bytes" if name.endswith("10x") else "small_total_bytes"]
            )
            if figures[name][key] != expected:
                raise RuntimeError(f"Part {name} stored {figures[name][key]} {key}, expected {expected}.")
    return {
        **figures,
        "ideal_bound_s": ideal,
        "speedup_vs_sequential": sequential["wall_s"] / operator["wall_s"],
        "operator_over_ideal": operator["wall_s"] / ideal,
        "rss_growth_10x_mib": large["peak_rss_mib"] - operator["peak_rss_mib"],
    }


def rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the results as rows for ``benchmarks/run_all.py``."""
    operator, sequential, large = summary["operator"], summary["sequential"], summary["operator_10x"]
    return [
        {
            "measure": f"{summary['images']} images at {summary['latency_ms']:g} ms, wall time",
            "provider": operator["wall_s"],
            "baseline": sequential["wall_s"],
            "unit": "s",
            "ratio": operator["wall_s"] / sequential["wall_s"],
            "throughput": summary["images"] / operator["wall_s"],
            "peak_rss_mib": operator["peak_rss_mib"],
            "note": (
                f"concurrency {summary['concurrency']} vs sequential HttpHook; ideal bound "
                f"{summary['ideal_bound_s']:.2f} s, operator/ideal {summary['operator_over_ideal']:.2f}"
            ),
        },
        {
            "measure": "peak RSS at 10x total bytes vs 1x",
            "provider": large["peak_rss_mib"],
            "baseline": operator["peak_rss_mib"],
            "unit": "MiB",
            "ratio": large["peak_rss_mib"] / operator["peak_rss_mib"],
            "throughput": summary["images"] / large["wall_s"],
            "peak_rss_mib": large["peak_rss_mib"],
            "note": f"{summary['small_total_bytes']:,} vs {summary['large_total_bytes']:,} bytes in all",
        },
    ]


def print_table(summary: dict[str, Any]) -> None:
    header = f"{'case':<22} {'images':>6} {'bytes':>12} {'wall s':>8} {'images/s':>9} {'peak RSS MiB':>13}"
    print(header)
    print("-" * len(header))
    for label, key in (
        ("operator x8", "operator"),
        ("sequential HttpHook", "sequential"),
        ("operator x8, 10x", "operator_10x"),
    ):
        part = summary[key]
        rate = part["images"] / part["wall_s"]
        figures = f"{part['images']:>6} {part['bytes']:>12,} {part['wall_s']:>8.2f} {rate:>9.1f}"
        print(f"{label:<22} {figures} {part['peak_rss_mib']:>13.1f}")
    print()
    print(f"ideal bound (images x latency / concurrency): {summary['ideal_bound_s']:.2f} s")
    print(f"sequential / operator wall time: {summary['speedup_vs_sequential']:.2f}x")
    print(f"operator / ideal bound: {summary['operator_over_ideal']:.2f}")
    print(f"peak RSS growth from 1x to 10x total bytes: {summary['rss_growth_10x_mib']:+.1f} MiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help=f"run {TINY_IMAGES} images instead of {IMAGES}")
    parser.add_argument("--latency-ms", type=float, default=LATENCY_MS, help="emulator delay per request, ms")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help="the operator's max_concurrency")
    parser.add_argument("--json", help='also write {"rows": [...]} to this file')
    args = parser.parse_args()
    summary = summarize(measure(args.tiny, args.latency_ms, args.concurrency))
    print_table(summary)
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows(summary), "figures": summary}, indent=2))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    if "--part" in sys.argv:
        child_main(PARTS, lambda tiny: [])
    else:
        sys.exit(main())
