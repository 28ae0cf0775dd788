"""
Handlers of the merchant stock and price methods (class ``MerchantAPI``).

NOTE: the class segment, the method names, the item shapes, the ``?batchId=`` status query and the
export flow are assumed from the prose of Mircate's merchant reference. Confirm them against a live
account. Batching by 500, ``bulkOperationId``, ``frequency`` and a separate API key are documented.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from airflow_provider_mircate.testing.emulator.protocol import ApiError, invalid
from airflow_provider_mircate.testing.emulator.state import parse_timestamp
from airflow_provider_mircate.testing.emulator.validation import (
    CURRENCY_PATTERN,
    DECIMAL_PATTERN,
    SKU_PATTERN,
)

if TYPE_CHECKING:
    from airflow_provider_mircate.testing.emulator.core import MircateEmulator
    from airflow_provider_mircate.testing.emulator.protocol import Call

MAX_ITEMS = 500
MAX_FREQUENCY = 10
EXPORT_FILES = ("stock.csv", "prices.csv")


def _feed(call: Call, kind: str) -> dict[str, Any]:
    items = call.body.get("items")
    if items is None:
        raise invalid("'items' required!", "items")
    if not isinstance(items, list) or not items:
        raise invalid("'items' must be a non-empty list.", "items", type(items).__name__)
    if len(items) > MAX_ITEMS:
        raise invalid(
            f"Too many items: {len(items)}; send at most {MAX_ITEMS} per request.", "items", len(items)
        )
    frequency = call.body.get("frequency", 0)
    if isinstance(frequency, bool) or not isinstance(frequency, int) or not 0 <= frequency <= MAX_FREQUENCY:
        raise invalid(
            f"Invalid frequency {frequency!r}; expected whole seconds from 0 to {MAX_FREQUENCY}.",
            "frequency",
            frequency,
        )
    operation = call.body.get("bulkOperationId")
    if operation is not None and not isinstance(operation, str):
        raise invalid("'bulkOperationId' must be a string.", "bulkOperationId", operation)
    delay = float(frequency) * call.emulator.frequency_scale
    batch_id = call.emulator.start_batch("MerchantAPI", kind, items, operation, item_delay=delay)
    call.applied = True
    call.batch_id = batch_id
    call.bulk_operation_id = operation
    call.items = len(items)
    return {"batchId": batch_id}


def receive_stock(call: Call) -> dict[str, Any]:
    return _feed(call, "stock")


def receive_price(call: Call) -> dict[str, Any]:
    return _feed(call, "price")


def _item_sku(item: Any) -> str:
    if not isinstance(item, dict):
        raise invalid("Each item must be an object.", "item", item)
    sku = item.get("sku")
    if not isinstance(sku, str) or not SKU_PATTERN.fullmatch(sku):
        raise invalid(f"Invalid sku {sku!r}: use 1 to 255 characters of A-Z, a-z, 0-9 and '_'.", "sku", sku)
    return sku


def apply_stock_item(emulator: MircateEmulator, item: dict[str, Any]) -> None:
    """Validate and store one stock item ``{sku, quantity, warehouse?}``; raise ``ApiError`` when invalid."""
    sku = _item_sku(item)
    quantity = item.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
        raise invalid(
            f"Invalid quantity {quantity!r} for {sku}; expected an integer >= 0.", "quantity", quantity
        )
    warehouse = item.get("warehouse")
    if warehouse is not None and not isinstance(warehouse, str):
        raise invalid(
            f"Invalid warehouse {warehouse!r} for {sku}; expected a string.", "warehouse", warehouse
        )
    state = emulator.state
    key = f"{sku}:{warehouse or ''}"
    with state.lock:
        now = state.now()
        state.stock[key] = {"sku": sku, "quantity": quantity, "warehouse": warehouse, "updatedAt": now}
        state.mark("stock", key)
        _record_history(
            emulator, {"type": "stock", "sku": sku, "quantity": quantity, "warehouse": warehouse, "at": now}
        )


def apply_price_item(emulator: MircateEmulator, item: dict[str, Any]) -> None:
    """Validate and store one price item ``{sku, price, currency, channel?, listPrice?}``."""
    sku = _item_sku(item)
    price, currency = item.get("price"), item.get("currency")
    if not isinstance(price, str) or not DECIMAL_PATTERN.fullmatch(price):
        raise invalid(
            f"Invalid price {price!r} for {sku}; expected a decimal string such as '12.50'.", "price", price
        )
    if not isinstance(currency, str) or not CURRENCY_PATTERN.fullmatch(currency):
        raise invalid(
            f"Invalid currency {currency!r} for {sku}; expected three upper-case letters.",
            "currency",
            currency,
        )
    list_price = item.get("listPrice")
    if list_price is not None and (
        not isinstance(list_price, str) or not DECIMAL_PATTERN.fullmatch(list_price)
    ):
        raise invalid(
            f"Invalid listPrice {list_price!r} for {sku}; expected a decimal string.", "listPrice", list_price
        )
    channel = item.get("channel")
    if channel is not None and not isinstance(channel, str):
        raise invalid(f"Invalid channel {channel!r} for {sku}; expected a string.", "channel", channel)
    state = emulator.state
    key = f"{sku}:{currency}:{channel or ''}"
    record = {"sku": sku, "price": price, "currency": currency, "channel": channel, "listPrice": list_price}
    with state.lock:
        now = state.now()
        state.prices[key] = {**record, "updatedAt": now}
        state.mark("price", key)
        _record_history(emulator, {"type": "price", **record, "at": now})


def _record_history(emulator: MircateEmulator, event: dict[str, Any]) -> None:
    state = emulator.state
    key = f"{len(state.history) + 1:012d}"
    while key in state.history:
        key = f"{int(key) + 1:012d}"
    state.history[key] = event
    state.mark("history", key)


def check_batch_status(call: Call) -> dict[str, Any]:
    batch_id = call.query.get("batchId") or call.body.get("batchId")
    call.batch_id = batch_id
    answer = call.emulator.batch_status("MerchantAPI", batch_id)
    answer.setdefault("bulkOperationId", None)
    call.bulk_operation_id = answer["bulkOperationId"]
    return answer


def export_stock_price(call: Call) -> dict[str, Any]:
    emulator = call.emulator
    state = emulator.state
    export_id = emulator.new_id("e-")
    with state.lock:
        state.exports[export_id] = {
            "exportId": export_id,
            "status": "PENDING",
            "createdAt": state.now(),
            "files": {},
        }
        state.mark("export", export_id)

    def build_files() -> None:
        with state.lock:
            files = {
                "stock.csv": _stock_csv(state.stock.values()),
                "prices.csv": _prices_csv(state.prices.values()),
            }
            state.exports[export_id].update(status="DONE", files=files, finishedAt=state.now())
            state.mark("export", export_id)
            state.changed.notify_all()
        emulator.request_flush()

    emulator.worker.submit(build_files)
    call.applied = True
    return {"exportId": export_id}


def _stock_csv(rows: Any) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["sku", "warehouse", "quantity", "updatedAt"])
    for row in sorted(rows, key=lambda r: (r["sku"], r["warehouse"] or "")):
        writer.writerow([row["sku"], row["warehouse"] or "", row["quantity"], row["updatedAt"]])
    return buffer.getvalue()


def _prices_csv(rows: Any) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["sku", "currency", "channel", "price", "listPrice", "updatedAt"])
    for row in sorted(rows, key=lambda r: (r["sku"], r["currency"], r["channel"] or "")):
        writer.writerow(
            [
                row["sku"],
                row["currency"],
                row["channel"] or "",
                row["price"],
                row["listPrice"] or "",
                row["updatedAt"],
            ]
        )
    return buffer.getvalue()


def list_exports(call: Call) -> dict[str, Any]:
    with call.emulator.state.lock:
        exports = [
            {"exportId": e["exportId"], "status": e["status"], "createdAt": e["createdAt"]}
            for e in call.emulator.state.exports.values()
        ]
    return {"exports": exports}


def get_exported_files(call: Call) -> dict[str, Any]:
    export_id = call.body.get("exportId")
    if not isinstance(export_id, str) or not export_id:
        raise invalid("'exportId' required!", "exportId")
    with call.emulator.state.lock:
        export = call.emulator.state.exports.get(export_id)
        if export is None:
            raise ApiError(404, f"Export {export_id!r} not found.")
        files = [
            {
                "name": name,
                "url": f"{call.emulator.url}/_emulator/files/{export_id}/{name}",
                "size": len(text.encode()),
            }
            for name, text in export["files"].items()
        ]
        return {"exportId": export_id, "status": export["status"], "files": files}


def get_stock_price_history(call: Call) -> dict[str, Any]:
    sku = call.body.get("sku")
    bounds = {}
    for name in ("from", "to"):
        value = call.body.get(name)
        if value is not None:
            try:
                bounds[name] = parse_timestamp(value)
            except (TypeError, ValueError, AttributeError):
                raise invalid(
                    f"Invalid {name} {value!r}; expected an ISO-8601 timestamp.", name, value
                ) from None
    with call.emulator.state.lock:
        events = [dict(e) for _, e in sorted(call.emulator.state.history.items())]
    history = [
        e
        for e in events
        if (sku is None or e["sku"] == sku)
        and ("from" not in bounds or e["at"] >= bounds["from"])
        and ("to" not in bounds or e["at"] <= bounds["to"])
    ]
    return {"history": history}


def remove_my_products(call: Call) -> dict[str, Any]:
    skus = call.body.get("skus")
    if not isinstance(skus, list) or not all(isinstance(s, str) for s in skus):
        raise invalid("'skus' must be a list of strings.", "skus", skus)
    removed = _remove(call, set(skus))
    return {"removed": removed}


def clean_my_products(call: Call) -> dict[str, Any]:
    return {"removed": _remove(call, None)}


def _remove(call: Call, skus: set[str] | None) -> int:
    state = call.emulator.state
    removed: set[str] = set()
    with state.lock:
        for kind, records in (("stock", state.stock), ("price", state.prices)):
            for key in [k for k, r in records.items() if skus is None or r["sku"] in skus]:
                removed.add(records.pop(key)["sku"])
                state.mark(kind, key)
    call.applied = True
    call.emulator.request_flush()
    return len(removed)


def export_file(emulator: MircateEmulator, export_id: str, name: str) -> str | None:
    """Return the CSV text of an export file, or None when the export or file does not exist."""
    with emulator.state.lock:
        export = emulator.state.exports.get(export_id)
        return None if export is None else export["files"].get(name)
