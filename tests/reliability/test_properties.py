"""
Properties of the whole operators, on top of the unit properties in ``tests/utils``: a catalog with one
mutated record is rejected before anything is sent, and no generated image name makes the fetch
operator write outside its destination.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_mircate.exceptions import MircateValidationError
from airflow_provider_mircate.operators.images import MircateImageFetchError, MircateImageFetchOperator
from airflow_provider_mircate.operators.products import MircateUpsertProductOperator
from airflow_provider_mircate.testing.emulator import MircateEmulator, make_test_image
from tests.reliability.conftest import make_context
from tests.utils.test_validation import MUTATIONS, SETTINGS, valid_products

pytestmark = pytest.mark.reliability

FIXTURE_CHECKS = [HealthCheck.function_scoped_fixture]

# NOTE: "unknown attribute" is left out because the operator treats ``attribute_types`` as a partial
# catalog, so an attribute missing from it is not checked.
OPERATOR_MUTATIONS = [m for m in MUTATIONS if m[0] != "unknown attribute"]


@settings(max_examples=25, deadline=None, suppress_health_check=FIXTURE_CHECKS)
@given(
    records=st.lists(valid_products(), min_size=2, max_size=6),
    mutation=st.sampled_from(OPERATOR_MUTATIONS),
    target=st.integers(min_value=0),
)
def test_upsert_rejects_any_single_mutation_unsent(
    canary_conn: MircateEmulator, records: list[dict[str, Any]], mutation: Any, target: int
) -> None:
    canary_conn.clear_requests()
    records = [copy.deepcopy(r) for r in records]
    for index, record in enumerate(records):
        # Distinct keys, so that the mutation is the only problem in the catalog.
        for key in ("sku", "code"):
            if key in record["data"]:
                record["data"][key] = f"P{index}_{record['data'][key]}"[:255]
    name, mutate, field = mutation
    mutated = target % len(records)
    mutate(records[mutated])

    with tempfile.TemporaryDirectory() as folder, pytest.raises(MircateValidationError) as raised:
        MircateUpsertProductOperator(
            task_id="upsert",
            products=records,
            attribute_types=_attribute_types(),
            checkpoint_path=f"file://{folder}/checkpoint.json",
        ).execute(make_context("upsert"))

    problems = raised.value.errors
    assert len(problems) == 1, name
    assert problems[0]["field"].endswith(field), name
    assert problems[0]["position"] == mutated
    assert len(canary_conn.requests) == 0


def _attribute_types() -> dict[str, Any]:
    """Return the attribute types of the unit tests' settings, with the options of the select attribute."""
    types = {attribute["code"]: dict(attribute) for attribute in SETTINGS["attributes"]}
    types["color"]["options"] = [
        {"code": o["code"]} for o in SETTINGS["attributeOptions"] if o["attributeCode"] == "color"
    ]
    return types


HOSTILE_PARTS = ["..", ".", "", "a", "/", "\\", "\x00", "~", "%2e%2e", "\u202e", "C:", "/etc"]


@settings(max_examples=25, deadline=None, suppress_health_check=FIXTURE_CHECKS)
@given(
    names=st.lists(
        st.one_of(
            st.lists(st.sampled_from(HOSTILE_PARTS), min_size=1, max_size=5).map("/".join),
            st.lists(st.sampled_from(HOSTILE_PARTS), min_size=1, max_size=5).map("".join),
            st.text(min_size=1, max_size=40),
            st.text(alphabet="n", min_size=250, max_size=300),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_image_fetch_writes_only_under_destination(canary_conn: MircateEmulator, names: list[str]) -> None:
    real = canary_conn.add_image(make_test_image(8, 8), "png")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        destination = root / "inside" / "images"
        try:
            MircateImageFetchOperator(
                task_id="fetch",
                destination=f"file://{destination}",
                filenames=[*names, real],
                on_missing="skip",
            ).execute(make_context("fetch"))
        except MircateImageFetchError as exc:
            assert exc.result["fetched"] == 1
        written = [p for p in root.rglob("*") if p.is_file()]

        assert written
        assert all(p.resolve().is_relative_to(destination.resolve()) for p in written)
        assert (destination / real).is_file()
