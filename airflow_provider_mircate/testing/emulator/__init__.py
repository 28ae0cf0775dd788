"""
A local emulator of the Mircate API for tests, demos and benchmarks.

Start it with ``MircateEmulator().start()`` (or as a context manager), point a ``mircate`` connection at
``emulator.conn_json()``, and inspect ``emulator.requests`` and ``emulator.state`` afterwards. The
``mircate-emulator`` console script runs it as a standalone server.
"""

from __future__ import annotations

from airflow_provider_mircate.testing.emulator.core import MircateEmulator
from airflow_provider_mircate.testing.emulator.faults import FAULT_KINDS, FaultSettings
from airflow_provider_mircate.testing.emulator.images import make_test_image

__all__ = ["FAULT_KINDS", "FaultSettings", "MircateEmulator", "make_test_image"]
