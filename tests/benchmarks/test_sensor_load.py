"""The sensor load benchmark's figures and rows, computed from fixed request times."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from sensor_load import fault_row, summarize

WINDOW = {"started": 100.0, "fault_start": 101.5, "fault_end": 103.0}


def test_fault_row_without_steady_requests() -> None:
    figures = summarize([101.6, 102.0], WINDOW, batches=10, poll_interval=0.5)

    row = fault_row(figures, 10, "one trigger per batch", 1.5, None)

    assert figures["steady_rps"] == 0
    assert row.ratio is None
    assert row.met is None
    assert row.note.startswith("ratio not measurable")
    assert row.throughput == pytest.approx(2 / 1.5)


def test_fault_row_with_steady_requests() -> None:
    figures = summarize([100.0, 100.5, 101.0, 101.6], WINDOW, batches=1, poll_interval=0.5)

    row = fault_row(figures, 1, "one trigger for all batches", 1.5, None)

    assert figures["steady_rps"] == pytest.approx(2.0)
    assert row.ratio == pytest.approx((1 / 1.5) / 2.0)
    assert row.met is True
    assert row.throughput == pytest.approx(1 / 1.5)
