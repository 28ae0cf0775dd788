"""
Run every benchmark case against the local emulator, print one table and save the results.

    .venv/bin/python benchmarks/run_all.py               # full sizes, several minutes
    .venv/bin/python benchmarks/run_all.py --tiny        # tiny sizes, only to prove each case still works
    .venv/bin/python benchmarks/run_all.py --write-md    # also rewrite the results part of BENCHMARKS.md

The results go to ``benchmarks/results/latest.json`` (or ``--json PATH``) with the machine, the date and
the package versions. A case that fails is reported in the table and the run exits with status 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import BENCH_DIR, ROOT, Row, bench_env, machine_info

RESULTS = BENCH_DIR / "results" / "latest.json"
MARKDOWN = ROOT / "BENCHMARKS.md"
MD_START = "<!-- results:start -->"
MD_END = "<!-- results:end -->"


def internal(module_name: str) -> Callable[[bool], list[Row]]:
    """Return a runner that imports a case module of this folder and calls its ``run(tiny)``."""

    def runner(tiny: bool) -> list[Row]:
        module = importlib.import_module(module_name)
        return list(module.run(tiny=tiny))

    return runner


def script_path(script: str) -> Path:
    path = BENCH_DIR / script
    if not path.exists():
        raise FileNotFoundError(f"benchmarks/{script} does not exist yet, so the case did not run.")
    return path


def run_script(path: Path, arguments: list[str]) -> dict[str, Any]:
    """Run a benchmark script in a subprocess and return the JSON object on the last line it printed."""
    command = [sys.executable, str(path), *arguments]
    completed = subprocess.run(command, env=bench_env(), capture_output=True, text=True, timeout=1800)
    if completed.returncode != 0:
        raise RuntimeError(f"{path.name} exited with {completed.returncode}: {completed.stderr[-4000:]}")
    lines = completed.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"{path.name} printed nothing; expected a JSON object on its last line.")
    return json.loads(lines[-1])


def run_capacity(tiny: bool) -> list[Row]:
    """Run emulator_capacity.py: the emulator pinned to one core, driven by keep-alive connections."""
    seconds = 0.5 if tiny else 3.0
    summary = run_script(script_path("emulator_capacity.py"), ["--seconds", str(seconds)])
    rows = []
    for method in ("getProductSettings", "upsertProduct"):
        rate = float(summary[f"{method}_rps"])
        rows.append(
            Row(
                case="1 emulator capacity",
                measure=(
                    f"{method}, {summary['connections']} keep-alive connections for {seconds:g} s, "
                    "emulator pinned to one core"
                ),
                provider=rate,
                baseline=None,
                unit="requests/s",
                throughput=rate,
                note="the emulator's own ceiling; the client rates below must stay well under it",
                details=summary,
            )
        )
    return rows


IMAGE_SPEEDUP_TARGET = 6.0
IMAGE_IDEAL_TARGET = 1.3
RSS_FLAT_TARGET = 1.25


def run_images(tiny: bool) -> list[Row]:
    """Run image_fetch.py: the image fetch operator at concurrency 8 against a sequential HttpHook loop."""
    out = BENCH_DIR / "results" / "image_fetch.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    run_script(script_path("image_fetch.py"), ["--json", str(out)] + (["--tiny"] if tiny else []))
    payload = json.loads(out.read_text())
    figures = payload["figures"]
    fields = set(Row.__dataclass_fields__)
    rows = [
        Row(case="5 image fetch", **{k: v for k, v in item.items() if k in fields})
        for item in payload["rows"]
    ]
    speedup, over_ideal = figures["speedup_vs_sequential"], figures["operator_over_ideal"]
    wall, memory = rows
    wall.target = (
        f"sequential/operator >= {IMAGE_SPEEDUP_TARGET:g} and operator/ideal <= {IMAGE_IDEAL_TARGET}"
    )
    wall.met = speedup >= IMAGE_SPEEDUP_TARGET and over_ideal <= IMAGE_IDEAL_TARGET
    wall.note = f"sequential/operator {speedup:.2f}; {wall.note}"
    memory.target = f"ratio <= {RSS_FLAT_TARGET}"
    memory.met = memory.ratio is not None and memory.ratio <= RSS_FLAT_TARGET
    return rows


CASES: list[tuple[str, str, Callable[[bool], list[Row]]]] = [
    ("capacity", "1 emulator capacity", run_capacity),
    ("hook", "2 hook call overhead", internal("hook_overhead")),
    ("upsert", "3 bulk upsert", internal("bulk_upsert")),
    ("export", "4 export", internal("export_products")),
    ("images", "5 image fetch", run_images),
    ("sensor", "6 sensor load", internal("sensor_load")),
]


def compare_capacity(rows: list[dict[str, Any]]) -> None:
    """Note on the capacity row how far the fastest single-client rate of the hook case stays below it."""
    capacity = next((r for r in rows if "getProductSettings, " in r["measure"] and r["provider"]), None)
    hook = next((r for r in rows if r["case"].startswith("2 ") and r.get("baseline")), None)
    if capacity is None or hook is None:
        return
    client_rate = 1e6 / min(hook["provider"], hook["baseline"])
    capacity["note"] = (
        f"the fastest client loop of case 2 reached {client_rate:,.0f} calls/s, "
        f"{client_rate / capacity['provider']:.0%} of this ceiling"
    )


def fmt(value: float | None) -> str:
    """Format a figure with three significant digits or a thousands separator."""
    if value is None:
        return "-"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def verdict(row: dict[str, Any]) -> str:
    if row.get("error"):
        return "FAILED TO RUN"
    if row["met"] is None:
        return "-"
    return "met" if row["met"] else "MISSED"


def table_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Return the results as a Markdown table; the terminal output uses the same lines."""
    header = (
        "| Case | Measure | Provider | Baseline | Unit | Ratio | Target | Result | Peak RSS MiB | Notes |"
    )
    lines = [header, "|" + "---|" * 10]
    for row in rows:
        cells = [
            row["case"],
            row["measure"],
            fmt(row["provider"]),
            fmt(row["baseline"]),
            row["unit"],
            fmt(row["ratio"]),
            row["target"] or "-",
            verdict(row),
            fmt(row["peak_rss_mib"]),
            (row.get("error") or row["note"]).replace("|", "/").replace("\n", " "),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def machine_lines(machine: dict[str, Any], tiny: bool, seconds: float) -> list[str]:
    versions = ", ".join(f"{name} {value}" for name, value in machine["versions"].items() if value)
    return [
        f"- Date: {machine['date']}, commit {machine['commit']}, "
        f"{'tiny sizes' if tiny else 'full sizes'}, {seconds:.0f} s in all",
        f"- Machine: {machine['cores']} cores, {machine['memory_gib']} GiB RAM, {machine['cpu_model']}, "
        f"{machine['os']}; 1-minute load average {machine.get('load_average_1min')} at the start",
        f"- Python {machine['python']}; {versions}",
    ]


def write_markdown(lines: list[str]) -> None:
    """Replace the text between the results markers of BENCHMARKS.md."""
    text = MARKDOWN.read_text(encoding="utf-8")
    start, end = text.find(MD_START), text.find(MD_END)
    if start < 0 or end < start:
        raise SystemExit(f"{MARKDOWN} has no {MD_START} ... {MD_END} block to rewrite.")
    body = "\n".join([MD_START, *lines, MD_END])
    MARKDOWN.write_text(text[:start] + body + text[end + len(MD_END) :], encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tiny", action="store_true", help="run each case at a tiny size only")
    parser.add_argument("--write-md", action="store_true", help="rewrite the results part of BENCHMARKS.md")
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"results file (default: {RESULTS})")
    parser.add_argument(
        "--only", help=f"comma-separated cases to run, from {', '.join(key for key, _, _ in CASES)}"
    )
    args = parser.parse_args()
    selected = set(args.only.split(",")) if args.only else {key for key, _, _ in CASES}
    unknown = selected - {key for key, _, _ in CASES}
    if unknown:
        parser.error(f"unknown case(s) {sorted(unknown)}")

    started = time.monotonic()
    machine = machine_info()
    rows: list[dict[str, Any]] = []
    failed = False
    for key, case, runner in CASES:
        if key not in selected:
            continue
        case_started = time.monotonic()
        print(f"Running {case} ...", file=sys.stderr, flush=True)
        try:
            case_rows = [row.to_json() for row in runner(args.tiny)]
        except Exception as exc:
            failed = True
            traceback.print_exc()
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            case_rows = [Row(case, "-", None, None, "-", note="").to_json() | {"error": message}]
        for row in case_rows:
            row["case_seconds"] = time.monotonic() - case_started
        rows.extend(case_rows)
        print(f"  done in {time.monotonic() - case_started:.0f} s", file=sys.stderr, flush=True)

    compare_capacity(rows)
    seconds = time.monotonic() - started
    lines = [*machine_lines(machine, args.tiny, seconds), "", *table_lines(rows)]
    print("\n".join(lines))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    payload = {"machine": machine, "tiny": args.tiny, "seconds": seconds, "rows": rows}
    args.json.write_text(json.dumps(payload, indent=2))
    if args.write_md:
        write_markdown(lines)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
