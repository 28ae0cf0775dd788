from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from airflow.sdk import BaseOperator

import airflow_provider_mircate.operators as operators_package
import airflow_provider_mircate.sensors as sensors_package


def public_operator_classes():
    found = []
    for package in (operators_package, sensors_package):
        for module_info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{module_info.name}")
            for name, value in vars(module).items():
                if (
                    inspect.isclass(value)
                    and issubclass(value, BaseOperator)
                    and value.__module__ == module.__name__
                    and not name.startswith("_")
                ):
                    found.append(value)
    return found


@pytest.mark.parametrize("operator_class", public_operator_classes(), ids=lambda c: c.__name__)
def test_connection_ids_are_templated(operator_class):
    conn_arguments = [
        name for name in inspect.signature(operator_class.__init__).parameters if name.endswith("conn_id")
    ]
    for base in operator_class.__mro__[1:]:
        if base.__module__.startswith("airflow_provider_mircate") and "__init__" in vars(base):
            conn_arguments += [
                n for n in inspect.signature(base.__init__).parameters if n.endswith("conn_id")
            ]
    assert "mircate_conn_id" in conn_arguments
    for name in set(conn_arguments):
        assert name in operator_class.template_fields, f"{operator_class.__name__}.{name} is not templated"
