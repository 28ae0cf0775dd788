"""Apache Airflow provider for the Mircate B2B commerce API."""

from __future__ import annotations

__version__ = "0.1.0"
