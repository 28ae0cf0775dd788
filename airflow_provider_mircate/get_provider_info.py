"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_mircate import __version__

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema"],
    "relabeling": {"login": "Account ID", "password": "API key", "host": "API base URL"},
    "placeholders": {
        "host": "https://api.b2b.retter.io",
        "login": "PIM account id (merchant project id for api=merchant)",
        "password": "x-api-key value",
        "port": "optional, joined with the host",
        "extra": '{"project_id": "5p1hp1d2t", "api": "pim", "max_retries": 6}',
    },
}

CONN_FIELDS: dict[str, Any] = {
    "project_id": {
        "label": "Project ID",
        "description": "The leading URL segment of every call. Default 5p1hp1d2t.",
        "schema": {"type": ["string", "null"]},
    },
    "api": {
        "label": "API",
        "description": "pim or merchant: the default class segment and the call test_connection makes.",
        "schema": {"type": ["string", "null"], "enum": ["pim", "merchant", None]},
    },
    "connect_timeout": {
        "label": "Connect timeout (seconds)",
        "schema": {"type": ["number", "null"], "minimum": 0},
    },
    "read_timeout": {"label": "Read timeout (seconds)", "schema": {"type": ["number", "null"], "minimum": 0}},
    "max_retries": {
        "label": "Max retries",
        "description": "Retries after the first try on 429, 5xx, timeouts and connection errors. Default 6.",
        "schema": {"type": ["integer", "null"], "minimum": 0},
    },
    "backoff_base": {
        "label": "Backoff base (seconds)",
        "schema": {"type": ["number", "null"], "minimum": 0},
    },
    "backoff_max": {"label": "Backoff max (seconds)", "schema": {"type": ["number", "null"], "minimum": 0}},
    "max_retry_after": {
        "label": "Longest Retry-After honoured (seconds)",
        "schema": {"type": ["number", "null"], "minimum": 0},
    },
    "max_requests_per_second": {
        "label": "Max requests per second",
        "description": "Client-side rate limit of each hook; empty for none.",
        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
    },
    "verify": {
        "label": "Verify TLS",
        "description": "true, false, or the path of a CA bundle.",
        "schema": {"type": ["boolean", "string", "null"]},
    },
    "paging": {
        "label": "getProducts paging",
        "description": "offset (pageFrom is a record offset) or page (pageFrom is a page number).",
        "schema": {"type": ["string", "null"], "enum": ["offset", "page", None]},
    },
    "method_names": {
        "label": "Method name overrides",
        "description": 'JSON object from contract method names to live names, e.g. {"bulkProductUpsert": "..."}.',
        "schema": {"type": ["object", "string", "null"]},
    },
}


def get_provider_info() -> dict[str, Any]:
    """Return the provider metadata: modules, the ``mircate`` connection type and its form."""
    integration = "Mircate"
    return {
        "package-name": "airflow-provider-mircate",
        "name": "Mircate",
        "description": "Mircate B2B commerce platform: PIM catalog, images, merchant stock and prices.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": integration,
                "external-doc-url": "https://docs.mircate.com/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": integration,
                "python-modules": [
                    "airflow_provider_mircate.hooks.mircate",
                    "airflow_provider_mircate.hooks.merchant",
                    "airflow_provider_mircate.hooks.transport",
                    "airflow_provider_mircate.hooks.async_hook",
                ],
            }
        ],
        "operators": [
            {
                "integration-name": integration,
                "python-modules": [
                    "airflow_provider_mircate.operators.generic",
                    "airflow_provider_mircate.operators.products",
                    "airflow_provider_mircate.operators.catalog",
                    "airflow_provider_mircate.operators.export",
                    "airflow_provider_mircate.operators.images",
                    "airflow_provider_mircate.operators.image_attach",
                    "airflow_provider_mircate.operators.merchant",
                    "airflow_provider_mircate.operators.merchant_exports",
                    "airflow_provider_mircate.operators.merchant_products",
                ],
            }
        ],
        "sensors": [
            {"integration-name": integration, "python-modules": ["airflow_provider_mircate.sensors.batch"]}
        ],
        "triggers": [
            {
                "integration-name": integration,
                "python-modules": [
                    "airflow_provider_mircate.triggers.batch",
                    "airflow_provider_mircate.triggers.merchant_export",
                ],
            }
        ],
        "connection-types": [
            {
                "connection-type": "mircate",
                "hook-class-name": "airflow_provider_mircate.hooks.mircate.MircateHook",
                "hook-name": "Mircate",
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
                "conn-fields": CONN_FIELDS,
            }
        ],
    }
