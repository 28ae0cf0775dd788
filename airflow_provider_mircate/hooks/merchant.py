"""Merchant stock and price feed calls of ``MircateHook``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from airflow_provider_mircate.exceptions import (
    MircateAPIError,
    MircateConfigError,
    MircateConnectionError,
    MircateValidationError,
)
from airflow_provider_mircate.hooks.retry import without_query
from airflow_provider_mircate.hooks.transport import MircateTransportHook
from airflow_provider_mircate.utils.merchant_items import check_frequency

MAX_BULK_ITEMS = 500


class MircateMerchantMethods(MircateTransportHook):
    """
    Send stock and price feeds to the merchant API and read its exports.

    The merchant API takes its own key and account id: use a connection with the extra ``api=merchant``.
    """

    # NOTE: only receivePrice is named by the public reference; the MerchantAPI class segment, the other
    # method names and every body and response shape below are assumed. Each is a parameter, and the
    # connection extra method_names maps a name to the live one.

    def receive_stock(
        self,
        items: Sequence[Mapping[str, Any]],
        *,
        bulk_operation_id: str | None,
        frequency: int | None = None,
        method: str = "receiveStock",
        api_class: str = "MerchantAPI",
        items_field: str = "items",
        id_field: str = "batchId",
    ) -> str:
        """
        Send at most 500 stock items (``{sku, quantity, warehouse?}``) in one batch and return its batch id.

        Each item sets an absolute quantity, so resending a batch after an ambiguous failure stores the same
        values; it may create a second batch id for the same items.

        :param bulk_operation_id: groups the batches of one feed; the operators use one id per task run.
        :param frequency: seconds (0 to 10) the API waits between items of the batch, to throttle processing.
        """
        return self._receive_items(
            items,
            bulk_operation_id,
            frequency,
            method=method,
            api_class=api_class,
            items_field=items_field,
            id_field=id_field,
        )

    def receive_price(
        self,
        items: Sequence[Mapping[str, Any]],
        *,
        bulk_operation_id: str | None,
        frequency: int | None = None,
        method: str = "receivePrice",
        api_class: str = "MerchantAPI",
        items_field: str = "items",
        id_field: str = "batchId",
    ) -> str:
        """
        Send at most 500 price items (``{sku, price, currency, channel?, listPrice?}``) in one batch.

        Prices travel as decimal strings. Returns the batch id; resending is as safe as for stock.
        """
        return self._receive_items(
            items,
            bulk_operation_id,
            frequency,
            method=method,
            api_class=api_class,
            items_field=items_field,
            id_field=id_field,
        )

    def _receive_items(
        self,
        items: Sequence[Mapping[str, Any]],
        bulk_operation_id: str | None,
        frequency: int | None,
        *,
        method: str,
        api_class: str,
        items_field: str,
        id_field: str,
    ) -> str:
        if not items:
            raise MircateValidationError(f"{method} got no items: pass at least one.")
        if len(items) > MAX_BULK_ITEMS:
            raise MircateValidationError(
                f"{method} got {len(items)} items; the API takes at most {MAX_BULK_ITEMS} a request. "
                "Split the list into chunks."
            )
        check_frequency(frequency)
        body: dict[str, Any] = {items_field: [dict(item) for item in items]}
        if bulk_operation_id:
            body["bulkOperationId"] = bulk_operation_id
        if frequency is not None:
            body["frequency"] = frequency
        answer = self.call(method, api_class=api_class, json=body) or {}
        return self._required_field(answer, id_field, method)

    def export_stock_price(
        self,
        *,
        method: str = "exportStockPrice",
        api_class: str = "MerchantAPI",
        id_field: str = "exportId",
        **filters: Any,
    ) -> str:
        """
        Start an export of the merchant's stock and prices and return its export id.

        Each call starts a new export, so it is retried only when the request surely never arrived.

        :param filters: sent as the body, unchanged.
        """
        answer = self.call(method, api_class=api_class, json=dict(filters), retry_mode="create") or {}
        return self._required_field(answer, id_field, method)

    def list_exports(
        self, *, method: str = "listExports", api_class: str = "MerchantAPI", list_field: str = "exports"
    ) -> list[dict[str, Any]]:
        """Return the merchant's exports as ``[{exportId, status, createdAt}, ...]``."""
        answer = self.call(method, api_class=api_class, json={}) or {}
        return self._list_field(answer, list_field, method)

    def get_exported_files(
        self,
        export_id: str,
        *,
        method: str = "getExportedFiles",
        api_class: str = "MerchantAPI",
        id_field: str = "exportId",
        list_field: str = "files",
    ) -> list[dict[str, Any]]:
        """Return the files of a finished export as ``[{name, url, size}, ...]``."""
        answer = self.call(method, api_class=api_class, json={id_field: export_id}) or {}
        return self._list_field(answer, list_field, method)

    def download_exported_file(self, url: str, *, max_redirects: int = 5) -> requests.Response:
        """
        Start downloading an exported file and return the open, streamed response; the caller closes it.

        The request carries the API key, so ``url`` and every redirect must be on the connection's scheme,
        host and port; any other URL raises ``MircateConfigError`` before a request is made. A relative URL
        is resolved against the connection's base URL. Failures are retried as in :meth:`call`.
        """
        target = urljoin(self.settings.base_url + "/", url)
        for _ in range(max_redirects + 1):
            self._check_same_origin(target, url)
            response = self.request(
                "GET",
                target,
                label=f"download of {without_query(target)}",
                stream=True,
                allow_redirects=False,
            )
            if not response.is_redirect:
                return response
            location = response.headers.get("Location", "")
            response.close()
            target = urljoin(target, location)
        raise MircateConnectionError(
            f"Downloading the exported file {without_query(url)} was redirected more than {max_redirects} times."
        )

    def _check_same_origin(self, target: str, original: str) -> None:
        if self._origin(target) != self._origin(self.settings.base_url):
            raise MircateConfigError(
                f"The exported file URL {without_query(original)} leads to {self._origin(target)}, not to the host "
                f"of connection {self.mircate_conn_id!r} ({self._origin(self.settings.base_url)}). The API key "
                "is only sent to the connection's host, so the file was not downloaded."
            )

    def get_stock_price_history(
        self,
        *,
        method: str = "getStockPriceHistory",
        api_class: str = "MerchantAPI",
        list_field: str = "history",
        **filters: Any,
    ) -> list[dict[str, Any]]:
        """
        Return stock and price changes; ``filters`` (``sku``, ``from``, ``to``) are sent as the body.

        Pass ``from`` as ``**{"from": "2026-01-01T00:00:00Z"}`` because it is a Python keyword.
        """
        answer = self.call(method, api_class=api_class, json=dict(filters)) or {}
        return self._list_field(answer, list_field, method)

    def remove_my_products(
        self, skus: Sequence[str], *, method: str = "removeMyProducts", api_class: str = "MerchantAPI"
    ) -> dict[str, Any]:
        """Remove the given skus from the merchant's products and return the response (``{removed}``)."""
        if isinstance(skus, str) or not skus:
            raise MircateValidationError(f"{method} needs a non-empty list of skus, got {skus!r}.")
        return self.call(method, api_class=api_class, json={"skus": list(skus)}) or {}

    def clean_my_products(
        self, *, method: str = "cleanMyProducts", api_class: str = "MerchantAPI"
    ) -> dict[str, Any]:
        """Remove every product of the merchant and return the response (``{removed}``)."""
        return self.call(method, api_class=api_class, json={}) or {}

    @staticmethod
    def _required_field(answer: Any, name: str, method: str) -> str:
        value = answer.get(name) if isinstance(answer, Mapping) else None
        if not value:
            keys = sorted(answer) if isinstance(answer, Mapping) else type(answer).__name__
            raise MircateAPIError(
                f"{method} returned no {name!r} field (keys: {keys}). Pass the field name the live API "
                "uses (id_field).",
                method=method,
            )
        return str(value)

    @staticmethod
    def _list_field(answer: Any, name: str, method: str) -> list[dict[str, Any]]:
        value = answer.get(name) if isinstance(answer, Mapping) else answer
        if not isinstance(value, list):
            keys = sorted(answer) if isinstance(answer, Mapping) else type(answer).__name__
            raise MircateAPIError(
                f"{method} returned no {name!r} list (keys: {keys}). Pass the field name the live API "
                "uses (list_field).",
                method=method,
            )
        return value

    @staticmethod
    def _origin(url: str) -> str:
        """Return ``scheme://host:port`` of a URL, with the scheme's default port filled in."""
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
        return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"
