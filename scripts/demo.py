"""
Run the example catalog sync against the local Mircate emulator and show what it wrote.

``make demo`` runs this script. It keeps everything inside the repository:

- Airflow's home is ``.airflow/demo``; its database is migrated on the first run and after an upgrade.
- The emulator listens on a free port on 127.0.0.1 and keeps its state in ``.demo/emulator.sqlite3``,
  so a second run finds the products and image names of the first.
- Product images are drawn into ``.demo/product-images``, resized images land in ``.demo/images`` and
  the export, filename list, attach record and manifests in ``.demo/output``.

The script exits with the exit code of ``airflow dags test``. The emulator is stopped by its pid when
the run ends, fails or is interrupted.

A run against a live Mircate account needs ``MIRCATE_DEMO_LIVE=1`` and an Airflow connection
``mircate_demo_live`` of type ``mircate`` (for example ``AIRFLOW_CONN_MIRCATE_DEMO_LIVE``). The
emulator is not started then, and the DAG writes to the same local folders.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
AIRFLOW_HOME = REPO / ".airflow" / "demo"
DEMO = REPO / ".demo"
DAG_ID = "mircate_catalog_sync"
LIVE_CONN_ID = "mircate_demo_live"
EMULATOR_READY_TIMEOUT = 30.0
EMULATOR_STOP_TIMEOUT = 10.0


def airflow_env() -> dict[str, str]:
    """Return the environment of the Airflow child processes."""
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(AIRFLOW_HOME),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # Without credentials boto would probe a cloud metadata address.
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    return env


def migrate_if_needed(env: dict[str, str]) -> None:
    """Run ``airflow db migrate`` unless this Airflow version already migrated the demo database."""
    version = metadata.version("apache-airflow")
    marker = AIRFLOW_HOME / f".migrated-{version}"
    if marker.exists() and (AIRFLOW_HOME / "airflow.db").exists():
        return
    AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    print(f"Migrating the demo Airflow database in {AIRFLOW_HOME} (Airflow {version})", flush=True)
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    marker.touch()


def draw_product_images() -> None:
    """Draw the catalog's product images into ``.demo/product-images``; existing files are kept."""
    spec = importlib.util.spec_from_file_location(
        "make_images", REPO / "example_dags" / "data" / "make_images.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written, kept = module.write_images(DEMO / "product-images")
    print(f"Product images in {DEMO / 'product-images'}: {written} drawn, {kept} kept", flush=True)


def start_emulator() -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Start the emulator on a free loopback port and return the process and its ready-file content."""
    ready_file = DEMO / "emulator.ready.json"
    ready_file.unlink(missing_ok=True)
    # The emulator prints its connection, key included, on stdout, so only stderr (its log lines and
    # errors) is kept.
    log_file = (DEMO / "emulator.log").open("wb")
    command = [
        str(BIN / "python"),
        "-m",
        "airflow_provider_mircate.testing.emulator.cli",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--state-file",
        str(DEMO / "emulator.sqlite3"),
        "--ready-file",
        str(ready_file),
    ]

    # A session of its own keeps Ctrl-C in the terminal from reaching the emulator. The finally block
    # in main() stops it by pid instead, after the DAG run has ended.
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log_file, start_new_session=True)
    log_file.close()

    deadline = time.monotonic() + EMULATOR_READY_TIMEOUT
    while not ready_file.exists():
        if process.poll() is not None:
            raise RuntimeError(
                f"The emulator exited with code {process.returncode} before it was ready; "
                f"see {DEMO / 'emulator.log'}."
            )
        if time.monotonic() > deadline:
            stop_emulator(process)
            raise RuntimeError(
                f"The emulator was not ready after {EMULATOR_READY_TIMEOUT:.0f} s; see {DEMO / 'emulator.log'}."
            )
        time.sleep(0.05)

    # The ready file contains the API key; it is read once and removed.
    info = json.loads(ready_file.read_text())
    ready_file.unlink()
    return process, info


def stop_emulator(process: subprocess.Popen[bytes]) -> None:
    """Stop the emulator by its pid: SIGTERM, then SIGKILL when it outlasts the stop timeout."""
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=EMULATOR_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


def describe_connection(conn_json: str) -> str:
    """Describe a connection in JSON form without its password (the API key)."""
    conn = json.loads(conn_json)
    shown = {key: value for key, value in conn.items() if key != "password"}
    return json.dumps(shown, sort_keys=True)


def live_connection_exists(env: dict[str, str]) -> bool:
    """Tell whether Airflow resolves the live connection, from the environment or the demo database."""
    check = (
        "import sys\n"
        "from airflow.exceptions import AirflowNotFoundException\n"
        "from airflow.models.connection import Connection\n"
        "try:\n"
        f"    Connection.get_connection_from_secrets({LIVE_CONN_ID!r})\n"
        "except AirflowNotFoundException:\n"
        "    sys.exit(3)\n"
    )
    result = subprocess.run([str(BIN / "python"), "-c", check], env=env, capture_output=True)
    return result.returncode == 0


def summarize_outputs() -> list[str]:
    """Read the export and the fetch manifests of the run and describe them in a few lines."""
    output = DEMO / "output"
    lines = []
    export = output / "products.jsonl"
    if export.exists():
        with export.open(encoding="utf-8") as handle:
            records = [json.loads(line) for line in handle if line.strip()]
        kinds = Counter(record.get("dataType", "PRODUCT") for record in records)
        lines.append(
            f"Export:     {export} ({len(records)} records: {kinds.get('PRODUCT', 0)} products, "
            f"{kinds.get('PRODUCT_MODEL', 0)} product models)"
        )
    filenames = output / "image_filenames.txt"
    if filenames.exists():
        count = sum(1 for line in filenames.read_text(encoding="utf-8").splitlines() if line.strip())
        lines.append(f"Filenames:  {filenames} ({count} image filenames)")
    record = output / "attached_images.jsonl"
    if record.exists():
        count = sum(1 for line in record.read_text(encoding="utf-8").splitlines() if line.strip())
        lines.append(f"Attached:   {record} ({count} images in the attach record)")
    statuses: Counter[str] = Counter()
    manifests = sorted((output / "manifests").glob("fetch-*.jsonl"))
    for manifest in manifests:
        with manifest.open(encoding="utf-8") as handle:
            statuses.update(json.loads(line)["status"] for line in handle if line.strip())
    if manifests:
        counts = ", ".join(f"{statuses[name]} {name}" for name in ("fetched", "skipped", "missing", "failed"))
        lines.append(f"Manifests:  {output / 'manifests'} ({len(manifests)} files: {counts})")
    images = DEMO / "images"
    if images.exists():
        webp = list(images.glob("*.webp"))
        size = sum(path.stat().st_size for path in webp)
        lines.append(f"Images:     {images} ({len(webp)} WebP files, {size / 1e6:.1f} MB)")
    return lines


def main() -> int:
    started = time.monotonic()
    DEMO.mkdir(exist_ok=True)
    env = airflow_env()
    live = os.environ.get("MIRCATE_DEMO_LIVE") == "1"
    migrate_if_needed(env)

    if live and not live_connection_exists(env):
        print(
            f"error: MIRCATE_DEMO_LIVE=1 is set, but no Airflow connection {LIVE_CONN_ID!r} exists. Define it, "
            f'for example as AIRFLOW_CONN_{LIVE_CONN_ID.upper()}=\'{{"conn_type": "mircate", '
            '"login": "<account id>", "password": "<API key>"}\', or unset MIRCATE_DEMO_LIVE to use the '
            "local emulator.",
            file=sys.stderr,
        )
        return 2
    draw_product_images()

    conf = {
        "images_uri": f"file://{DEMO / 'images'}",
        "output_uri": f"file://{DEMO / 'output'}",
        "product_images_uri": f"file://{DEMO / 'product-images'}",
    }
    command = [str(BIN / "airflow"), "dags", "test", DAG_ID, "-c", json.dumps(conf)]
    emulator: subprocess.Popen[bytes] | None = None
    try:
        if live:
            env["MIRCATE_CONN_ID"] = LIVE_CONN_ID
            print(f"Running {DAG_ID} against the live connection {LIVE_CONN_ID!r}", flush=True)
        else:
            emulator, info = start_emulator()
            env["AIRFLOW_CONN_MIRCATE_DEFAULT"] = info["conn_json"]
            env["MIRCATE_CONN_ID"] = "mircate_default"
            print(
                f"Mircate emulator on {info['url']} (pid {info['pid']}), state in {DEMO / 'emulator.sqlite3'}"
            )
            print(
                f"Connection mircate_default, key left out: {describe_connection(info['conn_json'])}",
                flush=True,
            )
        print(f"Running: airflow dags test {DAG_ID} -c '{json.dumps(conf)}'", flush=True)
        returncode = subprocess.run(command, env=env).returncode
    except KeyboardInterrupt:
        print("\nInterrupted; stopping the emulator.", file=sys.stderr)
        return 130
    finally:
        if emulator is not None:
            stop_emulator(emulator)

    print()
    print(f"== {DAG_ID}: {'succeeded' if returncode == 0 else f'failed (exit code {returncode})'} ==")
    for line in summarize_outputs():
        print(line)
    print(f"Wall time: {time.monotonic() - started:.1f} s")
    return returncode


if __name__ == "__main__":
    sys.exit(main())
