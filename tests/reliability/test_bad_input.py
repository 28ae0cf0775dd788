"""
Bad input, one row per case: each must raise a clear error that names the bad value and the fix, send
no API call (or exactly the one call that the server rejects), and show the API key nowhere.

The canary API key of the emulator is checked in the exception's text and repr, its causes, and all
that the case wrote to stdout and stderr, where Airflow's structlog output goes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mircate.exceptions import (
    MircateAuthError,
    MircateConfigError,
    MircateError,
    MircateNotFoundError,
    MircateValidationError,
)
from airflow_provider_mircate.hooks.mircate import MircateHook
from airflow_provider_mircate.operators.images import (
    MircateAttachCategoryImageOperator,
    MircateImageFetchOperator,
)
from airflow_provider_mircate.operators.products import MircateUpsertProductOperator
from airflow_provider_mircate.sensors.batch import MircateBatchStatusSensor
from airflow_provider_mircate.testing.emulator import MircateEmulator, make_test_image
from airflow_provider_mircate.triggers.batch import MircateBatchStatusTrigger
from tests.reliability.conftest import CANARY_KEY, FAULT_EXTRAS, make_context, product

try:
    from airflow.sdk.exceptions import AirflowNotFoundException
except ImportError:  # Airflow 3.1 defines it in the core package only.
    from airflow.exceptions import AirflowNotFoundException  # type: ignore[no-redef]

pytestmark = pytest.mark.reliability

CONN_ID = "mircate_bad_input"
MB = 1024 * 1024


@dataclass(frozen=True)
class Env:
    """What a case may use: the emulator, a folder of its own, and a way to define the test connection."""

    emulator: MircateEmulator
    folder: Path
    set_conn: Callable[..., None]


@dataclass(frozen=True)
class Case:
    """
    One bad input.

    :param run: raises the error under test.
    :param error: the exception class expected.
    :param fragments: texts the message must contain: the bad value and the fix.
    :param api_calls: API requests the emulator may log: 0, or 1 when the server itself rejects the call.
    """

    name: str
    run: Callable[[Env], Any]
    error: type[BaseException]
    fragments: tuple[str, ...]
    api_calls: int = 0


# -- connections ----------------------------------------------------------------------------------


def _products_page(conn_id: str = CONN_ID) -> Callable[[Env], Any]:
    def run(env: Env) -> Any:
        with MircateHook(conn_id) as hook:
            return hook.get_products_page(page_size=5)

    return run


def _with_conn(run: Callable[[Env], Any], **overrides: Any) -> Callable[[Env], Any]:
    def wrapped(env: Env) -> Any:
        env.set_conn(**overrides)
        return run(env)

    return wrapped


# -- products -------------------------------------------------------------------------------------


def _upsert(records: Any, **kwargs: Any) -> Callable[[Env], Any]:
    def run(env: Env) -> Any:
        env.set_conn()
        operator = MircateUpsertProductOperator(
            task_id="upsert",
            mircate_conn_id=CONN_ID,
            checkpoint_path=f"file://{env.folder}/checkpoint.json",
            **({"products": records} if not callable(records) else {"source": records(env.folder)}),
            **kwargs,
        )
        return operator.execute(make_context("upsert"))

    return run


def _without(key: str) -> dict[str, Any]:
    record = product("NO_FIELD")
    del record["data"][key]
    return record


def _file(name: str, content: bytes) -> Callable[[Path], str]:
    def make(folder: Path) -> str:
        path = folder / name
        path.write_bytes(content)
        return str(path)

    return make


# -- images ---------------------------------------------------------------------------------------


def _fetch_operator(**kwargs: Any) -> Callable[[Env], Any]:
    def run(env: Env) -> Any:
        return MircateImageFetchOperator(
            task_id="fetch", destination=f"file://{env.folder}/images", filenames=["x.png"], **kwargs
        )

    return run


def _fetch_names(*names: str) -> Callable[[Env], Any]:
    def run(env: Env) -> Any:
        env.set_conn()
        operator = MircateImageFetchOperator(
            task_id="fetch",
            destination=f"file://{env.folder}/images",
            filenames=list(names),
            mircate_conn_id=CONN_ID,
        )
        return operator.execute(make_context("fetch"))

    return run


def _attach_oversized(env: Env) -> Any:
    env.set_conn()
    path = env.folder / "huge.png"
    path.write_bytes(make_test_image(8, 8) + bytes(4 * MB))
    operator = MircateAttachCategoryImageOperator(
        task_id="attach", images=[{"path": str(path), "category_code": "shoes"}], mircate_conn_id=CONN_ID
    )
    return operator.execute(make_context("attach"))


# -- batches --------------------------------------------------------------------------------------

UNKNOWN_BATCH = "b-00000000-0000-4000-8000-000000000000"


def _poke_unknown_batch(env: Env) -> Any:
    env.set_conn()
    sensor = MircateBatchStatusSensor(task_id="wait", batch_ids=[UNKNOWN_BATCH], mircate_conn_id=CONN_ID)
    return sensor.poke(make_context("wait"))


def _trigger_unknown_batch(env: Env) -> Any:
    """Run the trigger to its event, then hand the event to the deferred sensor, as Airflow does."""
    env.set_conn()
    trigger = MircateBatchStatusTrigger(
        batch_ids=[UNKNOWN_BATCH], mircate_conn_id=CONN_ID, poll_interval=0.01
    )

    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("The trigger ended without an event.")

    event = asyncio.run(first_event())
    assert event["status"] == "error"
    sensor = MircateBatchStatusSensor(
        task_id="wait", batch_ids=[UNKNOWN_BATCH], mircate_conn_id=CONN_ID, deferrable=True
    )
    return sensor.execute_complete(make_context("wait"), event)


LONG_SKU = "S" * 256
CSV_MISSING_STATUS = b"sku,family\nSKU_1,shoes\n"
NOT_UTF8 = b'{"dataType": "PRODUCT", "data": {"sku": "caf\xe9", "family": "shoes", "status": "DRAFT"}}\n'
BAD_JSON_LINE = (
    json.dumps(product("GOOD_1")) + "\n" + json.dumps(product("GOOD_2")) + "\n" + '{"dataType": "PRODUCT",\n'
).encode()

CASES = [
    # connections
    Case("missing connection id", _products_page("mircate_no_such_conn"), AirflowNotFoundException,
         ("mircate_no_such_conn",)),
    Case("empty connection id", lambda env: MircateHook(""), ValueError, ("mircate_conn_id is empty", "Pass the id")),
    Case("no API key", _with_conn(_products_page(), password=None), MircateConfigError,
         (CONN_ID, "no password", "Set the password to the Mircate API key")),
    Case("no account id", _with_conn(_products_page(), login=None), MircateConfigError,
         (CONN_ID, "no login", "Set the login to the Mircate account id")),
    Case("wrong API key", _with_conn(_products_page(), password="0" * 32), MircateAuthError,
         ("HTTP 403", "getProducts", "Check the API key (password)", CONN_ID), api_calls=1),
    Case("wrong account id", _with_conn(_products_page(), login="zzzzzzzzzzz"), MircateNotFoundError,
         ("HTTP 404", "zzzzzzzzzzz", "login"), api_calls=1),
    Case("malformed host", _with_conn(_products_page(), host="http://exa mple.com"), MircateConfigError,
         ("malformed host", "'http://exa mple.com'", "Use a host name")),
    Case("unknown extra key", _with_conn(_products_page(), extra={"read_timout": 5}), MircateConfigError,
         ("read_timout", "Remove them", "read_timeout")),
    Case("non-numeric timeout", _with_conn(_products_page(), extra={"read_timeout": "fast"}), MircateConfigError,
         ("read_timeout='fast'", "expected a number of seconds")),
    # product records
    Case("missing sku", _upsert([_without("sku")]), MircateValidationError, ("sku", "missing")),
    Case("missing family", _upsert([_without("family")]), MircateValidationError, ("family", "NO_FIELD")),
    Case("missing status", _upsert([_without("status")]), MircateValidationError,
         ("status", "NO_FIELD", "ACTIVE")),
    Case("sku with spaces", _upsert([product("has space")]), MircateValidationError,
         ("'has space'", "A-Z, a-z, 0-9 and '_'")),
    Case("sku over 255 characters", _upsert([product(LONG_SKU)]), MircateValidationError,
         ("255", "sku")),
    Case("unknown status", _upsert([product("ST_1", status="LIVE")]), MircateValidationError,
         ("'LIVE'", "DRAFT", "ACTIVE", "ARCHIVED")),
    Case("categories not a list", _upsert([product("CAT_1", categories="shoes")]), MircateValidationError,
         ("categories", "'shoes'", "list")),
    Case("attribute value of wrong type",
         _upsert([product("AT_1", attributes=[{"code": "weight", "data": [{"value": "heavy"}]}])],
                 attribute_types={"weight": "NUMBER"}),
         MircateValidationError, ("weight", "'heavy'", "number")),
    Case("duplicate skus", _upsert([product("DUP_1"), product("DUP_1")]), MircateValidationError,
         ("DUP_1", "duplicate", "on_duplicate")),
    # files
    Case("empty file", _upsert(_file("empty.jsonl", b"")), MircateValidationError, ("empty.jsonl", "empty")),
    Case("malformed JSON line", _upsert(_file("bad.jsonl", BAD_JSON_LINE)), MircateValidationError,
         ("bad.jsonl", "Line 3", "fix or remove that line")),
    Case("CSV without a required column", _upsert(_file("short.csv", CSV_MISSING_STATUS)),
         MircateValidationError, ("short.csv", "status")),
    Case("file not UTF-8", _upsert(_file("latin1.jsonl", NOT_UTF8)), MircateValidationError,
         ("latin1.jsonl", "UTF-8")),
    # image parameters
    Case("quality 0", _fetch_operator(quality=0), MircateConfigError, ("quality=0", "1 to 100")),
    Case("quality 101", _fetch_operator(quality=101), MircateConfigError, ("quality=101", "1 to 100")),
    Case("compression level 10", _fetch_operator(compression_level=10), MircateConfigError,
         ("compression_level=10", "0 to 9")),
    Case("unknown fit", _fetch_operator(fit="stretch"), MircateConfigError, ("fit='stretch'", "cover")),
    Case("unknown format", _fetch_operator(format="bmp"), MircateConfigError, ("format='bmp'", "webp")),
    Case("negative width", _fetch_operator(width=-5), MircateConfigError, ("width=-5", "at least 1")),
    # image names
    Case("image name with ../", _fetch_names("../escape.png"), MircateError, ("'../escape.png'", "path separator")),
    Case("absolute image name", _fetch_names("/etc/passwd"), MircateError, ("'/etc/passwd'", "path separator")),
    Case("image name with NUL", _fetch_names("a\x00b.png"), MircateError, ("'a\\x00b.png'", "control character")),
    Case("image name of 300 characters", _fetch_names("n" * 296 + ".png"), MircateError,
         ("300 bytes", "limit is 255")),
    # attach
    Case("oversized image to attach", _attach_oversized, MircateValidationError, ("huge.png", "3145728")),
    # batches
    Case("unknown batch id, sensor poke", _poke_unknown_batch, MircateNotFoundError,
         (UNKNOWN_BATCH, "HTTP 404"), api_calls=1),
    Case("unknown batch id, trigger", _trigger_unknown_batch, MircateError,
         (UNKNOWN_BATCH, "HTTP 404"), api_calls=1),
]  # fmt: skip

CASE_COUNT = len(CASES)


def _error_texts(exc: BaseException) -> list[str]:
    """Return the text and repr of an exception and of each exception in its cause chain."""
    texts = []
    current: BaseException | None = exc
    while current is not None:
        texts += [str(current), repr(current)]
        current = current.__cause__ or current.__context__
    return texts


@pytest.fixture
def env(canary_conn: MircateEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    def set_conn(**overrides: Any) -> None:
        conn = json.loads(canary_conn.conn_json(**FAULT_EXTRAS))
        extra = overrides.pop("extra", None)
        if extra is not None:
            conn["extra"] = {**conn["extra"], **extra}
        conn.update(overrides)
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))

    return Env(canary_conn, tmp_path, set_conn)


def test_case_table_covers_every_bad_input() -> None:
    assert CASE_COUNT == 35
    assert len({case.name for case in CASES}) == CASE_COUNT


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_fails_clearly(
    case: Case, env: Env, capfd: pytest.CaptureFixture[str], record_property: Callable[..., None]
) -> None:
    capfd.readouterr()

    with pytest.raises(case.error) as raised:
        case.run(env)

    message = str(raised.value)
    captured = capfd.readouterr()
    texts = [*_error_texts(raised.value), captured.out, captured.err]
    record_property("secret_checks", len(texts))
    for fragment in case.fragments:
        assert fragment in message
    assert len(env.emulator.requests) == case.api_calls
    assert env.emulator.calls(applied=True) == []
    assert not [text for text in texts if CANARY_KEY in text]
