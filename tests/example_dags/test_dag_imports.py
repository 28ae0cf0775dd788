"""The example DAGs parse cleanly: no import errors and no deprecation warnings."""

from __future__ import annotations

import warnings

import pytest

from tests.example_dags.conftest import DAGS_FOLDER

EXPECTED_DAGS = ("mircate_catalog_sync", "mircate_image_backfill", "mircate_generic_and_taskflow")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    # Examples stay out because the test session sets AIRFLOW__CORE__LOAD_EXAMPLES=False; Airflow 3.3's
    # DagBag has no include_examples argument.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = DagBag(dag_folder=str(DAGS_FOLDER))
    bag.test_warnings = caught
    return bag


def test_dagbag_has_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


@pytest.mark.parametrize("dag_id", EXPECTED_DAGS)
def test_dagbag_contains_example(dagbag, dag_id):
    assert dag_id in dagbag.dags


def test_dagbag_parse_emits_no_deprecation_warnings(dagbag):
    deprecations = [
        f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}"
        for w in dagbag.test_warnings
        if issubclass(w.category, (DeprecationWarning, FutureWarning))
    ]
    assert deprecations == []


def test_dagbag_captured_no_warnings_in_examples(dagbag):
    ours = {path: found for path, found in dagbag.captured_warnings.items() if "example_dags" in str(path)}
    assert ours == {}


def test_catalog_sync_maps_image_fetch(dagbag):
    dag = dagbag.dags["mircate_catalog_sync"]
    fetch = dag.get_task("fetch_images")
    assert fetch.is_mapped


def test_catalog_sync_declares_images_asset(dagbag):
    dag = dagbag.dags["mircate_catalog_sync"]
    outlets = dag.get_task("report").outlets
    assert [asset.name for asset in outlets] == ["mircate_product_images"]


def test_catalog_sync_waits_in_triggerer(dagbag):
    dag = dagbag.dags["mircate_catalog_sync"]
    assert dag.get_task("wait_for_batches").deferrable is True


def test_catalog_sync_upserts_before_attaching(dagbag):
    dag = dagbag.dags["mircate_catalog_sync"]
    upstream = dag.get_task("attach_images").get_flat_relative_ids(upstream=True)
    assert {"upsert_products", "upsert_variants", "wait_for_batches"} <= upstream


def test_image_backfill_never_overwrites(dagbag):
    fetch = dagbag.dags["mircate_image_backfill"].get_task("fetch_images")
    assert fetch.partial_kwargs["overwrite"] is False
