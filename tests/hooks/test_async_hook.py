from __future__ import annotations

import asyncio
import json

import pytest

from airflow_provider_mircate.exceptions import MircateAuthError, MircateServerError
from airflow_provider_mircate.hooks.async_hook import MircateAsyncHook
from tests.hooks.conftest import ACCOUNT, API_KEY
from tests.hooks.scripted_server import Answer


@pytest.fixture
def async_hook(make_hook):
    make_hook("mircate_async", max_retries=2)
    return MircateAsyncHook("mircate_async")


def test_async_call_uses_same_url_and_key(server, async_hook):
    server.queue(Answer(200, {"productSettings": {"attributes": []}}))

    async def scenario():
        async with async_hook as hook:
            return await hook.call("getProductSettings", http_method="GET")

    assert asyncio.run(scenario()) == {"productSettings": {"attributes": []}}
    seen = server.seen[0]
    assert seen.path == f"/5p1hp1d2t/CALL/PIMAPI/getProductSettings/{ACCOUNT}"
    assert seen.headers["x-api-key"] == API_KEY


def test_async_retries_then_raises_server_error(server, async_hook):
    server.queue(Answer(500), Answer(502), Answer(503))

    async def scenario():
        async with async_hook as hook:
            await hook.call("checkBatchStatus", json={"batchId": "b"})

    with pytest.raises(MircateServerError):
        asyncio.run(scenario())
    assert len(server.seen) == 3


def test_async_retry_after_then_success(server, async_hook):
    server.queue(Answer(429, headers={"Retry-After": "0"}), Answer(200, {"status": "DONE"}))

    async def scenario():
        async with async_hook as hook:
            return await hook.check_batch_status("b1")

    assert asyncio.run(scenario()) == {"status": "DONE"}
    assert json.loads(server.seen[1].body) == {"batchId": "b1"}


def test_async_merchant_batch_status_uses_get(server, make_hook):
    make_hook("mircate_async_merchant", api="merchant")
    server.queue(Answer(200, {"status": "RUNNING"}))

    async def scenario():
        async with MircateAsyncHook("mircate_async_merchant") as hook:
            return await hook.check_batch_status("m1")

    assert asyncio.run(scenario()) == {"status": "RUNNING"}
    assert server.seen[0].method == "GET"
    assert server.seen[0].path.endswith(f"/CALL/MerchantAPI/checkBatchStatus/{ACCOUNT}?batchId=m1")


def test_async_forbidden_hides_key(server, async_hook):
    server.queue(Answer(403, {"message": "Access Denied"}))

    async def scenario():
        async with async_hook as hook:
            await hook.call("getProductSettings", http_method="GET")

    with pytest.raises(MircateAuthError) as info:
        asyncio.run(scenario())
    assert "mircate_async" in str(info.value)
    assert API_KEY not in str(info.value)
