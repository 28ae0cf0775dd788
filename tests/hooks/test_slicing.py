"""The sliced product export against the emulator, with a controlled clock and a small result window."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_mircate.exceptions import MircateValidationError
from airflow_provider_mircate.hooks.mircate import MircateHook
from airflow_provider_mircate.hooks.slicing import format_ms, iter_products_sliced, to_epoch_ms
from airflow_provider_mircate.testing.emulator import MircateEmulator
from airflow_provider_mircate.testing.emulator.pim import store_product
from airflow_provider_mircate.testing.pytest_plugin import TEST_CONNECTION_EXTRAS

START_MS = 1_700_000_000_000


class ManualClock:
    """A clock that moves only when a test moves it; whole milliseconds, returned as epoch seconds."""

    def __init__(self, now_ms: int = START_MS) -> None:
        self.now_ms = now_ms

    def __call__(self) -> float:
        # Half a millisecond keeps int(seconds * 1000) on this millisecond despite float rounding.
        return (self.now_ms + 0.5) / 1000

    def advance_ms(self, milliseconds: int = 1) -> None:
        self.now_ms += milliseconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def _start(clock: ManualClock, paging: str = "offset") -> MircateEmulator:
    return MircateEmulator(clock=clock, paging=paging).start()


@pytest.fixture
def emulator(clock: ManualClock) -> Iterator[MircateEmulator]:
    running = _start(clock)
    try:
        yield running
    finally:
        running.stop()


def _hook(emulator: MircateEmulator, monkeypatch: pytest.MonkeyPatch, **extra: Any) -> MircateHook:
    monkeypatch.setenv(
        "AIRFLOW_CONN_MIRCATE_SLICING", emulator.conn_json(**{**TEST_CONNECTION_EXTRAS, **extra})
    )
    return MircateHook("mircate_slicing")


@pytest.fixture
def hook(emulator: MircateEmulator, monkeypatch: pytest.MonkeyPatch) -> MircateHook:
    return _hook(emulator, monkeypatch)


def add_products(
    emulator: MircateEmulator,
    count: int,
    *,
    families: tuple[str, ...] = ("shoes", "bags", "hats"),
    clock: ManualClock | None = None,
    prefix: str = "p",
) -> list[str]:
    """Store ``count`` products directly in the emulator; with ``clock``, each one millisecond later."""
    skus = []
    for index in range(count):
        sku = f"{prefix}{index:05d}"
        record = {
            "dataType": "PRODUCT",
            "data": {"sku": sku, "family": families[index % len(families)], "status": "ACTIVE"},
        }
        store_product(emulator.state, record)
        skus.append(sku)
        if clock is not None:
            clock.advance_ms()
    return skus


def bad_requests(emulator: MircateEmulator) -> list[dict[str, Any]]:
    return [r for r in emulator.calls("getProducts") if r["status"] == 400]


def test_export_one_instant_past_window(emulator, hook):
    skus = add_products(emulator, 1500)

    exported = [r["data"]["sku"] for r in iter_products_sliced(hook, page_size=50, result_window=100)]

    assert len(exported) == 1500
    assert Counter(exported).most_common(1)[0][1] == 1
    assert set(exported) == set(skus)
    assert bad_requests(emulator) == []


def test_export_spread_over_time_bisects(emulator, hook, clock):
    skus = add_products(emulator, 700, clock=clock)

    exported = [r["data"]["sku"] for r in iter_products_sliced(hook, page_size=30, result_window=100)]

    assert sorted(exported) == sorted(skus)
    assert bad_requests(emulator) == []
    # With one product a millisecond, bisecting alone suffices: no family or prefix split.
    assert not [r for r in emulator.calls("getProductSettings")]


def test_export_reaches_products_outside_listed_families(emulator, hook):
    skus = add_products(emulator, 450)
    with emulator.state.lock:
        del emulator.state.families["hats"]

    exported = [r["data"]["sku"] for r in iter_products_sliced(hook, page_size=50, result_window=100)]

    assert sorted(exported) == sorted(skus)


def test_export_with_page_number_paging(clock, monkeypatch):
    emulator = _start(clock, paging="page")
    try:
        hook = _hook(emulator, monkeypatch, paging="page")
        skus = add_products(emulator, 400, families=("shoes",))

        exported = [r["data"]["sku"] for r in iter_products_sliced(hook, page_size=40, result_window=100)]

        assert sorted(exported) == sorted(skus)
        assert bad_requests(emulator) == []
    finally:
        emulator.stop()


def test_export_honours_updated_since_and_until(emulator, hook, clock):
    skus = add_products(emulator, 300, clock=clock)
    since = format_ms(START_MS + 100)
    until = datetime.fromtimestamp((START_MS + 200) / 1000, tz=timezone.utc)

    exported = [
        r["data"]["sku"]
        for r in iter_products_sliced(
            hook, updated_since=since, updated_until=until, page_size=20, result_window=50
        )
    ]

    assert exported == skus[100:200]


def test_export_applies_filters(emulator, hook, clock):
    skus = add_products(emulator, 300, clock=clock)

    records = list(iter_products_sliced(hook, filters={"family": "bags"}, page_size=20, result_window=50))

    assert [r["data"]["sku"] for r in records] == skus[1::3]


class UpdatingHook(MircateHook):
    """A hook that, after a few pages, lets another writer update products the export already read."""

    def __init__(self, *args: Any, emulator: MircateEmulator, clock: ManualClock, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.emulator = emulator
        self.clock = clock
        self.pages = 0
        self.updated: list[str] = []

    def get_products_page(self, **kwargs: Any) -> dict[str, Any]:
        page = super().get_products_page(**kwargs)
        if kwargs.get("page_size", 0) > 1:
            self.pages += 1
            if self.pages == 2:
                self._update_read_products(page)
        return page

    def _update_read_products(self, page: dict[str, Any]) -> None:
        self.clock.advance_ms(10_000)
        for item in page["products"][:10]:
            record = item["source"]
            store_product(self.emulator.state, {"dataType": "PRODUCT", "data": dict(record["data"])})
            self.updated.append(record["data"]["sku"])


def test_export_complete_when_products_change_during_read(emulator, clock, monkeypatch):
    _hook(emulator, monkeypatch)
    skus = add_products(emulator, 300, clock=clock)
    hook = UpdatingHook("mircate_slicing", emulator=emulator, clock=clock)

    exported = [r["data"]["sku"] for r in iter_products_sliced(hook, page_size=25, result_window=100)]

    assert len(hook.updated) == 10
    assert len(exported) == len(set(exported))
    assert sorted(exported) == sorted(skus)


def test_export_rejects_updated_at_filter(hook):
    with pytest.raises(MircateValidationError, match="updated_since"):
        list(iter_products_sliced(hook, filters={"updatedAt": {"gte": "2024-01-01T00:00:00Z"}}))


def test_export_rejects_empty_range(hook):
    with pytest.raises(MircateValidationError, match="not before"):
        list(iter_products_sliced(hook, updated_since="2024-02-01", updated_until="2024-01-01"))


def test_export_of_empty_catalog(emulator, hook):
    assert list(iter_products_sliced(hook)) == []
    assert len(emulator.calls("getProducts")) == 1


def test_hook_method_delegates(emulator, hook):
    add_products(emulator, 5)

    records = list(hook.iter_products_sliced(page_size=2))

    assert len(records) == 5


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00.000Z"),
        ("2024-05-01T12:00:00.123456+02:00", "2024-05-01T10:00:00.123Z"),
        ("2024-05-01", "2024-05-01T00:00:00.000Z"),
        ("2024-05-01 12:30", "2024-05-01T12:30:00.000Z"),
        (datetime(2024, 5, 1, 12, 0, 0, 5000), "2024-05-01T12:00:00.005Z"),
    ],
)
def test_timestamp_normalization(value, expected):
    assert format_ms(to_epoch_ms(value)) == expected


def test_timestamp_rejects_garbage():
    with pytest.raises(MircateValidationError, match="ISO-8601"):
        to_epoch_ms("yesterday")
