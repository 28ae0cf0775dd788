from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from airflow_provider_mircate.get_provider_info import get_provider_info


def test_entry_point_points_at_provider_info():
    points = [
        ep
        for ep in entry_points(group="apache_airflow_provider")
        if ep.value.startswith("airflow_provider_mircate")
    ]
    assert len(points) == 1
    assert points[0].load() is get_provider_info


def test_provider_info_matches_airflow_schema():
    import jsonschema
    from airflow import providers_manager  # noqa: F401 - the schema ships beside it

    schema_path = os.path.join(
        os.path.dirname(importlib.import_module("airflow").__file__), "provider_info.schema.json"
    )
    with open(schema_path) as handle:
        schema = json.load(handle)
    jsonschema.validate(get_provider_info(), schema)


def test_every_listed_module_imports():
    info = get_provider_info()
    modules = [
        m
        for group in ("hooks", "operators", "sensors", "triggers")
        for entry in info[group]
        for m in entry["python-modules"]
    ]
    for name in modules:
        importlib.import_module(name)
    hook_path = info["connection-types"][0]["hook-class-name"]
    module, _, cls = hook_path.rpartition(".")
    assert getattr(importlib.import_module(module), cls).conn_type == "mircate"


@pytest.mark.parametrize(
    "command", [["providers", "list"], ["providers", "hooks"], ["providers", "behaviours"]]
)
def test_airflow_cli_lists_the_provider(command):
    result = subprocess.run(
        [sys.executable, "-m", "airflow", *command, "-o", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    expected = "airflow-provider-mircate" if command[1] == "list" else "mircate"
    assert expected in result.stdout


def test_every_public_module_is_listed():
    import pkgutil

    import airflow_provider_mircate

    info = get_provider_info()
    listed = {
        m
        for group in ("hooks", "operators", "sensors", "triggers")
        for e in info[group]
        for m in e["python-modules"]
    }
    root = os.path.dirname(airflow_provider_mircate.__file__)
    present = set()
    for group in ("hooks", "operators", "sensors", "triggers"):
        for module in pkgutil.iter_modules([os.path.join(root, group)]):
            present.add(f"airflow_provider_mircate.{group}.{module.name}")
    # Helper modules of the hook that hold no public class are not listed.
    helpers = {"airflow_provider_mircate.hooks." + name for name in ("base", "retry", "settings", "slicing")}
    assert present - helpers == listed
