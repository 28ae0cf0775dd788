"""Imports that moved between Airflow 3.1 and 3.3, resolved once for the whole package."""

from __future__ import annotations

try:
    from airflow.sdk.configuration import conf
except ImportError:  # Airflow 3.1 keeps the configuration in the core package only.
    from airflow.configuration import conf  # type: ignore[no-redef,unused-ignore]

try:
    from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowSkipException
except ImportError:  # Airflow 3.1 defines them in the core package only.
    from airflow.exceptions import AirflowSensorTimeout, AirflowSkipException  # type: ignore[no-redef,unused-ignore]

__all__ = ["AirflowSensorTimeout", "AirflowSkipException", "conf"]
