"""
Shared plumbing of the benchmark scripts: the emulator subprocess, case parts in subprocesses, result rows.

A case script has two sides. Its ``run(tiny)`` function runs in the parent: it starts an emulator in its
own process and runs each measured part in a fresh child process with :func:`run_part`. The child side,
``python CASE.py --part NAME ...``, runs one part and writes a JSON dict that includes the child's peak
RSS, so the figure belongs to that part alone: the emulator's memory is in another process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent
EMULATOR_START_TIMEOUT = 60.0
PART_TIMEOUT = 1800.0
CONN_ENV = "AIRFLOW_CONN_MIRCATE_DEFAULT"


@dataclass
class Row:
    """
    One line of the results table.

    ``provider`` and ``baseline`` are in ``unit``, and ``ratio`` is provider divided by baseline.
    ``throughput`` is the provider's rate in items a second, which the smoke test checks is positive.
    """

    case: str
    measure: str
    provider: float | None
    baseline: float | None
    unit: str
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    throughput: float | None = None
    peak_rss_mib: float | None = None
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def bench_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the environment of every benchmark subprocess: a private Airflow home, no cloud lookups."""
    env = dict(os.environ)
    home = Path(tempfile.gettempdir()) / "mircate-bench-airflow"
    home.mkdir(parents=True, exist_ok=True)
    env.setdefault("AIRFLOW_HOME", str(home))
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(proxy, None)
    env.update(extra or {})
    return env


# -- the emulator process ---------------------------------------------------------------------------


class EmulatorProcess:
    """
    Run ``python -m airflow_provider_mircate.testing.emulator.cli`` on 127.0.0.1 with a free port.

    ``info`` is the ready file's content: ``{url, pid, conn_json, conn_uri}``.

    :param latency_ms: the fixed delay of every API request, milliseconds.
    :param batch_rate: bulk items the emulator processes a second; ``None`` means no limit.
    :param workdir: where the ready file and the emulator's output are written.
    """

    def __init__(self, workdir: Path, *, latency_ms: float = 0.0, batch_rate: float | None = None) -> None:
        self.workdir = workdir
        self.latency_ms = latency_ms
        self.batch_rate = batch_rate
        self.process: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    def start(self) -> EmulatorProcess:
        ready = self.workdir / f"emulator-{time.monotonic_ns()}.json"
        command = [
            sys.executable,
            "-m",
            "airflow_provider_mircate.testing.emulator.cli",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--ready-file",
            str(ready),
            "--latency-ms",
            str(self.latency_ms),
        ]
        if self.batch_rate is not None:
            command += ["--batch-rate", str(self.batch_rate)]
        self.log_path = ready.with_suffix(".log")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=bench_env())
        deadline = time.monotonic() + EMULATOR_START_TIMEOUT
        while not ready.exists():
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"The emulator exited with code {self.process.returncode} before it was ready; "
                    f"see {self.log_path}."
                )
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"The emulator was not ready after {EMULATOR_START_TIMEOUT} s.")
            time.sleep(0.05)
        self.info = json.loads(ready.read_text())
        self.info_path = ready
        return self

    def stop(self) -> None:
        """Stop the emulator by its pid: SIGTERM, then SIGKILL after 10 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return str(self.info["url"])

    def control(self, method: str, name: str, body: Any = None) -> Any:
        """Call a control endpoint ``/_emulator/NAME`` and return the parsed JSON response."""
        return control(self.url, method, name, body)

    def api_target(self) -> tuple[str, str, dict[str, str]]:
        """Return ``(PIM API prefix up to the class segment, account id, headers)`` for bare requests."""
        return api_target(self.info["conn_json"])

    def reset_catalog(self) -> None:
        """Empty the emulator and define the attributes that :func:`product_record` uses."""
        self.control("POST", "reset")
        prefix, account, headers = self.api_target()
        body = json.dumps({"attributes": ATTRIBUTES}).encode()
        request = urllib.request.Request(
            f"{prefix}/upsertAttributes/{account}",
            data=body,
            method="POST",
            headers={**headers, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()


def api_target(conn_json: str) -> tuple[str, str, dict[str, str]]:
    """Return ``(PIM API prefix up to the class segment, account id, headers)`` from a connection JSON."""
    conn = json.loads(conn_json)
    prefix = f"{conn['host']}:{conn['port']}/{conn['extra']['project_id']}/CALL/PIMAPI"
    headers = {"x-api-key": conn["password"], "Accept": "application/json"}
    return prefix, conn["login"], headers


def control(url: str, method: str, name: str, body: Any = None) -> Any:
    """Call ``{url}/_emulator/{name}`` with an optional JSON body and return the parsed JSON response."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{url}/_emulator/{name}", data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def wait_for_batches(url: str, timeout: float = 600.0) -> dict[str, Any]:
    """Poll ``/_emulator/state`` until no batch is PENDING or RUNNING; return the last state summary."""
    deadline = time.monotonic() + timeout
    while True:
        state = control(url, "GET", "state")
        statuses = state.get("batchStatuses", {})
        if not statuses.get("PENDING") and not statuses.get("RUNNING"):
            return state
        if time.monotonic() > deadline:
            raise TimeoutError(f"Emulator batches still running after {timeout} s: {statuses}")
        time.sleep(0.2)


# -- products ---------------------------------------------------------------------------------------

FAMILIES = ("shoes", "shirts", "bags", "hats")
ATTRIBUTES = [
    {"code": "name", "type": "TEXT", "localizable": True},
    {"code": "color", "type": "TEXT"},
]
CATEGORIES = ("men", "women", "kids", "sale", "new")


def product_record(index: int) -> dict[str, Any]:
    """Return the valid canonical record number ``index``; the same index always gives the same record."""
    return {
        "dataType": "PRODUCT",
        "data": {
            "sku": f"SKU_{index:07d}",
            "family": FAMILIES[index % len(FAMILIES)],
            "status": "ACTIVE",
            "enabled": index % 7 != 0,
            "categories": [CATEGORIES[index % len(CATEGORIES)]],
            "attributes": [
                {"code": "name", "data": [{"locale": "en_US", "value": f"Product {index}"}]},
                {"code": "color", "data": [{"value": ("red", "green", "blue")[index % 3]}]},
            ],
        },
    }


def write_products_jsonl(path: Path, count: int) -> Path:
    """Write ``count`` records to a JSON lines file, one line at a time."""
    with open(path, "w", encoding="utf-8") as handle:
        for index in range(count):
            handle.write(json.dumps(product_record(index), separators=(",", ":")))
            handle.write("\n")
    return path


def seed_products(emulator: EmulatorProcess, count: int) -> None:
    """Load ``count`` products into the emulator with bulk upserts of 500 and wait until they are stored."""
    import requests

    prefix, account, headers = emulator.api_target()
    with requests.Session() as session:
        session.headers.update(headers)
        session.trust_env = False
        for start in range(0, count, 500):
            chunk = [product_record(i) for i in range(start, min(count, start + 500))]
            response = session.post(f"{prefix}/bulkProductUpsert/{account}", json={"products": chunk})
            response.raise_for_status()
    wait_for_batches(emulator.url)


# -- parts in child processes -----------------------------------------------------------------------


def run_part(
    script: str | Path,
    part: str,
    *,
    emulator: EmulatorProcess | None = None,
    size: int = 0,
    workdir: Path,
    options: Mapping[str, Any] | None = None,
    timeout: float = PART_TIMEOUT,
) -> dict[str, Any]:
    """Run ``python SCRIPT --part PART`` in a fresh process and return the JSON dict it wrote."""
    out = workdir / f"{Path(script).stem}-{part}-{size}-{time.monotonic_ns()}.json"
    command = [sys.executable, str(script), "--part", part, "--size", str(size), "--out", str(out)]
    command += ["--workdir", str(workdir), "--options", json.dumps(dict(options or {}))]
    extra = {}
    if emulator is not None:
        command += ["--emulator-info", str(emulator.info_path)]
        extra[CONN_ENV] = emulator.info["conn_json"]
    completed = subprocess.run(command, env=bench_env(extra), timeout=timeout, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(
            f"Part {part!r} of {Path(script).name} failed with exit code {completed.returncode}:\n"
            f"{completed.stderr[-4000:]}"
        )
    return json.loads(out.read_text())


def peak_rss_mib() -> float:
    """Return this process's peak resident set size so far, MiB (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class PartContext:
    """What a part function gets: its size, options, working folder and the emulator's ready-file data."""

    size: int
    options: dict[str, Any]
    workdir: Path
    emulator: dict[str, Any]

    @property
    def url(self) -> str:
        return str(self.emulator["url"])

    def method_url(self, method: str) -> tuple[str, dict[str, str]]:
        """Return ``(URL, headers)`` of a PIM API method, for bare requests."""
        prefix, account, headers = api_target(self.emulator["conn_json"])
        return f"{prefix}/{method}/{account}", headers


def child_main(
    parts: Mapping[str, Callable[[PartContext], dict[str, Any]]], case_run: Callable[..., Any]
) -> None:
    """
    Entry point of a case script: with ``--part``, run one part in this process; without, run the case.

    A part's result gets ``start_rss_mib`` (after the imports the part names in its module) and
    ``peak_rss_mib`` (at the end).
    """
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=sorted(parts))
    parser.add_argument("--size", type=int, default=0)
    parser.add_argument("--out")
    parser.add_argument("--workdir")
    parser.add_argument("--options", default="{}")
    parser.add_argument("--emulator-info")
    parser.add_argument("--tiny", action="store_true", help="run the case at a tiny size only")
    args = parser.parse_args()
    if args.part is None:
        for row in case_run(tiny=args.tiny):
            print(json.dumps(row.to_json()))
        return
    emulator = json.loads(Path(args.emulator_info).read_text()) if args.emulator_info else {}
    context = PartContext(
        size=args.size, options=json.loads(args.options), workdir=Path(args.workdir), emulator=emulator
    )
    result = parts[args.part](context)
    result.setdefault("peak_rss_mib", peak_rss_mib())
    Path(args.out).write_text(json.dumps(result))


@contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    """Yield a fresh temporary folder that is removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"mircate-bench-{prefix}-") as name:
        yield Path(name)


# -- machine and versions ---------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """Return cores, memory, CPU model, OS, Python, the date and the versions of the measured packages."""
    from importlib.metadata import PackageNotFoundError, version

    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    versions = {}
    for package in (
        "apache-airflow",
        "apache-airflow-task-sdk",
        "requests",
        "httpx",
        "airflow-provider-mircate",
    ):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "cpu_model": cpu_model or platform.processor(),
        "os": f"{platform.system()} {platform.release()}",
        "load_average_1min": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "versions": versions,
        "commit": commit or None,
    }
