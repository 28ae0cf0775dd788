"""Operators that remove products (their stock and prices) from a merchant's Mircate account."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_mircate.exceptions import MircateConfigError
from airflow_provider_mircate.hooks.mircate import MAX_BULK_ITEMS, MircateHook
from airflow_provider_mircate.operators.merchant import DEFAULT_MERCHANT_CONN_ID, MERCHANT_API_CLASS
from airflow_provider_mircate.utils.merchant_items import DEFAULT_SKU_PATTERN

if TYPE_CHECKING:
    from airflow.sdk import Context

# How many skus a log line or an error message lists.
SHOWN_SKUS = 10


def _first_skus(skus: Sequence[str]) -> str:
    shown = ", ".join(skus[:SHOWN_SKUS])
    return shown + (f" and {len(skus) - SHOWN_SKUS} more" if len(skus) > SHOWN_SKUS else "")


def _check_confirm(confirm: Any) -> None:
    if not isinstance(confirm, bool):
        raise MircateConfigError(f"confirm={confirm!r} is invalid: pass True to allow the removal, or False.")


class MircateRemoveMyProductsOperator(BaseOperator):
    """
    Remove the given skus from the merchant's products, with their stock and prices.

    Nothing is removed unless ``confirm=True``: without it the task fails and its message lists what
    would be removed. Skus are sent in requests of at most 500.

    :param skus: the skus to remove, as a list or its JSON text. (templated)
    :param confirm: must be ``True`` for the removal to run.
    :param mircate_conn_id: a ``mircate`` connection with extra ``api=merchant``.
    :param method: the API method that removes products.
    :param sku_pattern: a regular expression that every sku must match in full.

    Returns ``{"requested", "removed"}``: the number of skus sent and the count the API returned.
    """

    template_fields: Sequence[str] = ("mircate_conn_id", "skus")
    ui_color = "#fde8e8"

    def __init__(
        self,
        *,
        skus: Any,
        confirm: bool = False,
        mircate_conn_id: str = DEFAULT_MERCHANT_CONN_ID,
        method: str = "removeMyProducts",
        sku_pattern: str = DEFAULT_SKU_PATTERN,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        _check_confirm(confirm)
        self.skus = skus
        self.confirm = confirm
        self.mircate_conn_id = mircate_conn_id
        self.method = method
        self.sku_pattern = sku_pattern
        # A literal list is checked now, so a typo fails at DAG parse time. A template or an XCom argument
        # is checked in execute, after rendering.
        if isinstance(skus, (list, tuple)):
            self._checked_skus(skus)

    @cached_property
    def hook(self) -> MircateHook:
        return MircateHook(self.mircate_conn_id)

    def execute(self, context: Context) -> dict[str, int]:
        skus = self._checked_skus(_parse_skus(self.skus))
        if not self.confirm:
            raise MircateConfigError(
                f"{self.task_id} would remove {len(skus)} product(s) with their stock and prices from merchant "
                f"account {self.hook.settings.account_id}: {_first_skus(skus)}. Nothing was removed. Set "
                "confirm=True on the task to remove them."
            )
        removed = 0
        for start in range(0, len(skus), MAX_BULK_ITEMS):
            answer = self.hook.remove_my_products(
                skus[start : start + MAX_BULK_ITEMS], method=self.method, api_class=MERCHANT_API_CLASS
            )
            removed += _removed_count(answer)
        self.log.info(
            "Removed %d of %d requested product(s) from merchant account %s; first skus: %s",
            removed,
            len(skus),
            self.hook.settings.account_id,
            _first_skus(skus),
        )
        return {"requested": len(skus), "removed": removed}

    def _checked_skus(self, skus: Sequence[Any]) -> list[str]:
        if not skus:
            raise MircateConfigError(f"{self.task_id}: skus is empty; give at least one sku to remove.")
        invalid = [s for s in skus if not isinstance(s, str) or not re.fullmatch(self.sku_pattern, s)]
        if invalid:
            raise MircateConfigError(
                f"{self.task_id}: {len(invalid)} sku(s) do not match {self.sku_pattern}: "
                f"{', '.join(repr(s) for s in invalid[:SHOWN_SKUS])}."
            )
        return list(dict.fromkeys(skus))


class MircateCleanMyProductsOperator(BaseOperator):
    """
    Remove every product of the merchant, with all stock and prices.

    Nothing is removed unless ``confirm=True``: without it the task fails with a message naming what would be removed.

    :param confirm: must be ``True`` for the removal to run.
    :param mircate_conn_id: a ``mircate`` connection with extra ``api=merchant``.
    :param method: the API method that removes every product.

    Returns ``{"removed"}``, the count the API returned.
    """

    template_fields: Sequence[str] = ("mircate_conn_id",)
    ui_color = "#fde8e8"

    def __init__(
        self,
        *,
        confirm: bool = False,
        mircate_conn_id: str = DEFAULT_MERCHANT_CONN_ID,
        method: str = "cleanMyProducts",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        _check_confirm(confirm)
        self.confirm = confirm
        self.mircate_conn_id = mircate_conn_id
        self.method = method

    @cached_property
    def hook(self) -> MircateHook:
        return MircateHook(self.mircate_conn_id)

    def execute(self, context: Context) -> dict[str, int]:
        account = self.hook.settings.account_id
        if not self.confirm:
            raise MircateConfigError(
                f"{self.task_id} would remove every product, with all stock and prices, from merchant account "
                f"{account}. Nothing was removed. Set confirm=True on the task to remove them."
            )
        answer = self.hook.clean_my_products(method=self.method, api_class=MERCHANT_API_CLASS)
        removed = _removed_count(answer)
        listed = answer.get("skus") if isinstance(answer, dict) else None
        if isinstance(listed, list) and listed:
            self.log.info(
                "Removed %d product(s) from merchant account %s; first skus: %s",
                removed,
                account,
                _first_skus([str(s) for s in listed]),
            )
        else:
            self.log.info("Removed %d product(s) from merchant account %s", removed, account)
        return {"removed": removed}


def _parse_skus(value: Any) -> list[Any]:
    """Return rendered ``skus`` as a list; a JSON list rendered as text is parsed, one plain sku is wrapped."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError as exc:
                raise MircateConfigError(f"skus rendered to text that is not a JSON list ({exc}).") from exc
        else:
            value = [text] if text else []
    if not isinstance(value, (list, tuple)):
        raise MircateConfigError(f"skus must be a list of strings, got {type(value).__name__}.")
    return list(value)


def _removed_count(answer: Any) -> int:
    removed = answer.get("removed") if isinstance(answer, dict) else None
    return removed if isinstance(removed, int) and not isinstance(removed, bool) else 0
