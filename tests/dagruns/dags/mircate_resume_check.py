"""A DAG for the resume test: the upsert fails after some chunks, then its retry resumes."""

from __future__ import annotations

import json
import os
import urllib.request
from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_mircate.operators.products import MircateUpsertProductOperator


def clear_faults(context):
    """Clear the emulator's faults before the retry, as an outage that ends would."""
    request = urllib.request.Request(
        os.environ["MIRCATE_EMULATOR_URL"] + "/_emulator/faults",
        data=json.dumps({"clear": True}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


with DAG("mircate_resume_check", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    MircateUpsertProductOperator(
        task_id="upsert",
        source=os.environ.get("MIRCATE_RESUME_SOURCE", "/nonexistent.jsonl"),
        batch_size=100,
        retries=1,
        retry_delay=timedelta(seconds=0),
        on_retry_callback=clear_faults,
    )
