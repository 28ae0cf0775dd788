"""The ``mircate-emulator`` console script: run the emulator as a standalone server until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from airflow_provider_mircate.testing.emulator.core import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_API_KEY,
    DEFAULT_PROJECT_ID,
)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the console script."""
    parser = argparse.ArgumentParser(
        prog="mircate-emulator", description="Run a local emulator of the Mircate PIM and merchant APIs."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8099, help="port to listen on; 0 picks a free one (default: 8099)"
    )
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="PIM API key accepted in x-api-key")
    parser.add_argument(
        "--account-id", default=DEFAULT_ACCOUNT_ID, help="PIM account id, the last URL segment"
    )
    parser.add_argument("--project-id", default=DEFAULT_PROJECT_ID, help="project id, the first URL segment")
    parser.add_argument("--merchant-account-id", help="merchant project id; enables the MerchantAPI class")
    parser.add_argument(
        "--merchant-api-key", help="merchant stock and price key (needed with --merchant-account-id)"
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="fixed delay per API request, milliseconds"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for ids and fault draws (default: 0)")
    parser.add_argument("--state-file", help="SQLite file that keeps the state across restarts")
    parser.add_argument(
        "--batch-rate", type=float, help="bulk items processed per second (default: no limit)"
    )
    parser.add_argument(
        "--ready-file",
        help="write {url, pid, conn_json, conn_uri, merchant_conn_json} as JSON here once listening",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Start the emulator, print how to connect, and serve until SIGTERM or SIGINT."""
    from airflow_provider_mircate.testing.emulator.core import MircateEmulator

    args = build_parser().parse_args(argv)
    if (args.merchant_account_id is None) != (args.merchant_api_key is None):
        print("error: give both --merchant-account-id and --merchant-api-key, or neither", file=sys.stderr)
        return 2
    emulator = MircateEmulator(
        api_key=args.api_key,
        account_id=args.account_id,
        project_id=args.project_id,
        seed=args.seed,
        state_file=args.state_file,
        merchant_account_id=args.merchant_account_id,
        merchant_api_key=args.merchant_api_key,
        host=args.host,
        port=args.port,
        latency_ms=args.latency_ms,
        batch_rate=args.batch_rate,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    emulator.start()
    try:
        info = _connection_info(emulator)
        if args.ready_file:
            _write_ready_file(Path(args.ready_file), info)
        _print_info(info)
        stop.wait()
    finally:
        emulator.stop()
        print("Mircate emulator stopped.", flush=True)
    return 0


def _connection_info(emulator: Any) -> dict[str, Any]:
    info = {
        "url": emulator.url,
        "pid": os.getpid(),
        "conn_json": emulator.conn_json(),
        "conn_uri": emulator.conn_uri(),
        "merchant_conn_json": None,
        "merchant_conn_uri": None,
    }
    if emulator.merchant_account_id is not None:
        info["merchant_conn_json"] = emulator.merchant_conn_json()
        info["merchant_conn_uri"] = emulator.merchant_conn_uri()
    return info


def _print_info(info: dict[str, Any]) -> None:
    lines = [
        f"Mircate emulator listening on {info['url']} (pid {info['pid']})",
        "The keys below are emulator test keys, not secrets.",
        f"AIRFLOW_CONN_MIRCATE_DEFAULT='{info['conn_json']}'",
        f"AIRFLOW_CONN_MIRCATE_DEFAULT='{info['conn_uri']}'",
    ]
    if info["merchant_conn_json"]:
        lines.append(f"AIRFLOW_CONN_MIRCATE_MERCHANT_DEFAULT='{info['merchant_conn_json']}'")
        lines.append(f"AIRFLOW_CONN_MIRCATE_MERCHANT_DEFAULT='{info['merchant_conn_uri']}'")
    lines.append("Stop it with Ctrl-C or SIGTERM.")
    print("\n".join(lines), flush=True)


def _write_ready_file(path: Path, info: dict[str, Any]) -> None:
    # Written to a temporary name and renamed, so a reader never sees a half-written file.
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(info))
    os.replace(temporary, path)


if __name__ == "__main__":
    sys.exit(main())
