"""The synchronous Mircate hook: one pooled ``requests.Session`` per hook, retries and typed errors."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from airflow_provider_mircate.exceptions import (
    MircateAPIError,
    MircateConfigError,
    MircateConnectionError,
    MircateResultWindowError,
    MircateValidationError,
)
from airflow_provider_mircate.hooks.base import MircateBaseHook
from airflow_provider_mircate.hooks.retry import (
    FailureKind,
    RetryMode,
    connection_error,
    error_from_response,
    summarize_body,
)
from airflow_provider_mircate.utils.merchant_items import check_frequency

if TYPE_CHECKING:
    from datetime import datetime

    from airflow_provider_mircate.hooks.settings import MircateConnectionSettings

MAX_BULK_ITEMS = 500
RESULT_WINDOW = 10_000
IMAGE_PARAMETERS = ("background", "compressionLevel", "fit", "format", "quality", "height", "width")


class MircateHook(MircateBaseHook):
    """
    Call the Mircate API over one pooled HTTP session.

    Every call goes to ``{host}/{project_id}/CALL/{api_class}/{method}/{account_id}`` with the API key
    in the ``x-api-key`` header. HTTP 429, 5xx, connection errors and timeouts are retried with capped
    exponential backoff and full jitter, honouring ``Retry-After``; 400, 403 and 404 raise at once.

    :param mircate_conn_id: the id of a connection of type ``mircate``.
    :param pool_size: the number of HTTP connections kept open, for callers that share one hook across
        threads.
    :param settings: ready settings that replace the connection lookup.
    """

    def __init__(
        self,
        mircate_conn_id: str = MircateBaseHook.default_conn_name,
        *,
        pool_size: int = 10,
        settings: MircateConnectionSettings | None = None,
    ) -> None:
        super().__init__(mircate_conn_id, settings=settings)
        self.pool_size = pool_size

    @cached_property
    def session(self) -> requests.Session:
        """The pooled session, built on first use and reused by every call of this hook."""
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self.pool_size, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update(self._headers())
        session.verify = self.settings.verify
        # Proxies and credentials from the environment would otherwise be merged into every request.
        session.trust_env = False
        return session

    def get_conn(self) -> requests.Session:
        """Return the pooled session."""
        return self.session

    def close(self) -> None:
        """Close the pooled session's connections."""
        if "session" in self.__dict__:
            self.session.close()
            del self.__dict__["session"]

    def __enter__(self) -> MircateHook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the generic call -------------------------------------------------------------------------

    def call(
        self,
        method: str,
        *,
        api_class: str | None = None,
        http_method: str = "POST",
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        stream: bool = False,
        retry_mode: RetryMode = "idempotent",
    ) -> Any:
        """
        Send one API call and return its parsed JSON body (``None`` for HTTP 204).

        :param method: the contract method name, mapped through the connection extra ``method_names``.
        :param api_class: the class segment of the URL; the connection's ``api`` decides the default
            (``PIMAPI`` or ``MerchantAPI``). Other groups: ``PromotionAPI``, ``LoyaltyAPI`` and so on.
        :param http_method: the HTTP verb.
        :param json: the JSON body.
        :param params: query parameters.
        :param stream: return the open ``requests.Response`` instead of parsed JSON; the caller closes it.
        :param retry_mode: ``idempotent`` retries every retryable failure; ``create`` retries only
            failures where the request surely never arrived.
        """
        url = self.build_url(method, api_class)
        describe = self._describe(method)
        policy = self.retry_policy
        timeout = (self.settings.connect_timeout, self.settings.read_timeout)
        attempt = 0
        while True:
            delay = self.rate_limiter.reserve()
            if delay:
                time.sleep(delay)
            self.log.debug("Sending %s %s", http_method, url)
            wait: float | None = None
            reason: str
            try:
                response = self.session.request(
                    http_method, url, json=json, params=params, stream=stream, timeout=timeout
                )
            except requests.RequestException as exc:
                kind = _failure_kind(exc)
                reason = f"{type(exc).__name__}"
                if attempt >= policy.max_retries or not policy.should_retry_failure(kind, retry_mode):
                    raise connection_error(method, url, f"{reason}: {exc}", attempts=attempt + 1) from exc
                wait = policy.backoff(attempt)
            else:
                status = response.status_code
                if status < 400:
                    if stream:
                        return response
                    outcome = _parse_body(response)
                    if outcome is not _BROKEN:
                        return outcome
                    # The status arrived but the body was cut short: the request was applied.
                    reason = "truncated body"
                    if attempt >= policy.max_retries or not policy.should_retry_failure(
                        "ambiguous", retry_mode
                    ):
                        raise connection_error(method, url, reason, attempts=attempt + 1)
                    wait = policy.backoff(attempt)
                else:
                    body = response.content if not stream else response.raw.read(4096, decode_content=True)
                    response.close()
                    self.log.debug("Mircate %s answered HTTP %s: %s", method, status, summarize_body(body))
                    retryable = policy.should_retry_status(status, retry_mode)
                    if not retryable or attempt >= policy.max_retries:
                        raise error_from_response(
                            status, body, method=method, conn_id=self.mircate_conn_id, after_retries=retryable
                        )
                    reason = f"HTTP {status}"
                    wait = policy.wait_for_status(
                        attempt, status, response.headers.get("Retry-After"), describe
                    )
            attempt += 1
            self.log.warning(
                "Mircate %s failed with %s; retry %d of %d in %.2f s",
                method,
                reason,
                attempt,
                policy.max_retries,
                wait,
            )
            time.sleep(wait)

    # -- PIM: products ----------------------------------------------------------------------------

    def get_products_page(
        self,
        *,
        page_from: int = 0,
        page_size: int = 50,
        filters: Mapping[str, Any] | None = None,
        sorts: Mapping[str, str] | None = None,
        search_text: str | None = None,
        source: bool | None = None,
    ) -> dict[str, Any]:
        """Fetch one raw ``getProducts`` page: ``{pageFrom, pageSize, totalProducts, products}``."""
        body: dict[str, Any] = {"pageFrom": page_from, "pageSize": page_size}
        if filters:
            body["filters"] = dict(filters)
        if sorts:
            body["sorts"] = dict(sorts)
        if search_text is not None:
            body["searchText"] = search_text
        if source is not None:
            body["source"] = source
        return self.call("getProducts", api_class="PIMAPI", json=body) or {}

    def get_products(
        self,
        *,
        filters: Mapping[str, Any] | None = None,
        sorts: Mapping[str, str] | None = None,
        search_text: str | None = None,
        page_size: int = 50,
        result_window: int = RESULT_WINDOW,
    ) -> Iterator[dict[str, Any]]:
        """
        Yield every product that matches, page by page, as canonical records (``{score, source}`` unwrapped).

        The connection extra ``paging`` decides whether ``pageFrom`` is a record offset or a page number.

        :raises MircateResultWindowError: when the next page lies past ``result_window`` records; use
            :meth:`iter_products_sliced` for larger exports.
        """
        if page_size < 1:
            raise MircateValidationError(f"page_size={page_size!r} is invalid: use an integer of at least 1.")
        offset = 0
        while True:
            if offset + page_size > result_window:
                raise MircateResultWindowError(
                    f"getProducts cannot page past {result_window} records (asked for records {offset} to "
                    f"{offset + page_size}). Narrow the filters, or use iter_products_sliced, which splits "
                    "the export by updatedAt ranges."
                )
            page_from = offset if self.settings.paging == "offset" else offset // page_size + 1
            # NOTE: whether pageFrom is a record offset or a page number is not settled by the public
            # reference; the connection extra paging switches between the two.
            page = self.get_products_page(
                page_from=page_from,
                page_size=page_size,
                filters=filters,
                sorts=sorts,
                search_text=search_text,
            )
            items = page.get("products") or []
            for item in items:
                yield unwrap_product(item)
            offset += len(items)
            total = page.get("totalProducts")
            if len(items) < page_size or (isinstance(total, int) and offset >= total):
                return

    def iter_products_sliced(
        self,
        *,
        updated_since: datetime | str | None = None,
        updated_until: datetime | str | None = None,
        filters: Mapping[str, Any] | None = None,
        page_size: int = 500,
        result_window: int = RESULT_WINDOW,
    ) -> Iterator[dict[str, Any]]:
        """
        Yield every matching product as canonical records, past the result window, once each.

        See :func:`airflow_provider_mircate.hooks.slicing.iter_products_sliced` for the slicing and its
        memory use (about 100 bytes a product).
        """
        from airflow_provider_mircate.hooks.slicing import iter_products_sliced

        return iter_products_sliced(
            self,
            updated_since=updated_since,
            updated_until=updated_until,
            filters=filters,
            page_size=page_size,
            result_window=result_window,
        )

    def get_product_settings(self) -> dict[str, Any]:
        """Return ``productSettings``: attributes, attribute options, families, groups and group types."""
        answer = self.call("getProductSettings", api_class="PIMAPI", http_method="GET") or {}
        return answer.get("productSettings", answer)

    def get_catalog_settings(self) -> dict[str, Any]:
        """Return ``catalogSettings``: categories, enabled currencies and locales, channels."""
        answer = self.call("getCatalogSettings", api_class="PIMAPI", http_method="GET") or {}
        return answer.get("catalogSettings", answer)

    def upsert_product(self, product: Mapping[str, Any]) -> Any:
        """Create or update one product keyed by its sku (or code for a product model)."""
        return self.call("upsertProduct", api_class="PIMAPI", json=dict(product))

    def upsert_category(self, category: Mapping[str, Any]) -> Any:
        """Create or update one category tree (``subCategories`` nest recursively)."""
        return self.call("upsertCategory", api_class="PIMAPI", json={"category": dict(category)})

    def bulk_upsert_products(
        self,
        products: Sequence[Mapping[str, Any]],
        *,
        bulk_operation_id: str | None = None,
        method: str = "bulkProductUpsert",
        items_field: str = "products",
        id_field: str = "batchId",
        api_class: str = "PIMAPI",
    ) -> str:
        """
        Send at most 500 products in one asynchronous batch and return its batch id.

        Resending the same batch after an ambiguous failure is safe for the data because upserts are keyed
        by sku; only the batch id of the request that succeeded is returned.

        NOTE: the method name, the body shape and the ``batchId`` field are assumed; each is a parameter.
        """
        if not products:
            raise MircateValidationError("bulk_upsert_products got no products: pass at least one.")
        if len(products) > MAX_BULK_ITEMS:
            raise MircateValidationError(
                f"bulk_upsert_products got {len(products)} products; the API takes at most {MAX_BULK_ITEMS} "
                "a request. Split the list into chunks."
            )
        body: dict[str, Any] = {items_field: [dict(p) for p in products]}
        if bulk_operation_id:
            body["bulkOperationId"] = bulk_operation_id
        answer = self.call(method, api_class=api_class, json=body) or {}
        batch_id = answer.get(id_field)
        if not batch_id:
            raise MircateAPIError(
                f"{method} answered without a {id_field!r} field (keys: {sorted(answer)}). Set id_field to "
                "the name the live API uses.",
                method=method,
            )
        return str(batch_id)

    def check_batch_status(
        self,
        batch_id: str,
        *,
        method: str = "checkBatchStatus",
        id_field: str = "batchId",
        api_class: str | None = None,
        http_method: str | None = None,
    ) -> dict[str, Any]:
        """
        Return ``{batchId, status, total, processed, failed, errors}`` for one batch.

        NOTE: the method name and answer shape are assumed; each is a parameter.
        """
        api_class, verb, kwargs = self.batch_status_request(
            batch_id, id_field=id_field, api_class=api_class, http_method=http_method
        )
        answer = self.call(method, api_class=api_class, http_method=verb, **kwargs)
        return answer or {}

    def delete_product(self, product_id: str) -> Any:
        """Delete one product or product model by sku or code."""
        return self.call("deleteProduct", api_class="PIMAPI", json={"id": product_id})

    # -- PIM: images ------------------------------------------------------------------------------

    def attach_product_attribute_image(
        self, *, product_id: str, attribute_code: str, image_base64: str, extension: str
    ) -> dict[str, Any]:
        """
        Upload an image into a product's IMAGE or IMAGE_LIST attribute; return ``{imageId, extension, filename}``.

        Each call creates a new image, so it is retried only when the request surely never arrived.
        """
        body = {
            "image": image_base64,
            "productId": product_id,
            "extension": extension,
            "attributeCode": attribute_code,
        }
        return self.call("attachProductAttributeImage", api_class="PIMAPI", json=body, retry_mode="create")

    def attach_category_image(
        self, *, category_code: str, image_base64: str, extension: str
    ) -> dict[str, Any]:
        """Upload a category image; return ``{imageId, extension, filename}``. Retried as attach above."""
        body = {"image": image_base64, "categoryCode": category_code, "extension": extension}
        return self.call("attachCategoryImage", api_class="PIMAPI", json=body, retry_mode="create")

    def get_image(self, filename: str, **transforms: Any) -> requests.Response:
        """
        Start downloading one image and return the open, streamed response; the caller closes it.

        :param filename: the image filename that the attach calls return.
        :param transforms: ``width``, ``height``, ``fit``, ``format``, ``quality``, ``background`` and
            ``compressionLevel`` (``compression_level`` is accepted too); all are sent as strings.
        """
        params = {"filename": filename}
        for key, value in transforms.items():
            name = "compressionLevel" if key == "compression_level" else key
            if name not in IMAGE_PARAMETERS:
                raise MircateValidationError(
                    f"get_image got an unknown transform {key!r}; use one of {list(IMAGE_PARAMETERS)}."
                )
            if value is not None:
                params[name] = str(value).lower() if isinstance(value, bool) else str(value)
        return self.call("getImage", api_class="PIMAPI", http_method="GET", params=params, stream=True)

    # -- PIM: attributes --------------------------------------------------------------------------

    def upsert_attributes(self, attributes: Sequence[Mapping[str, Any]]) -> Any:
        """Create or update attributes in the shape of ``productSettings.attributes``."""
        return self.call(
            "upsertAttributes", api_class="PIMAPI", json={"attributes": [dict(a) for a in attributes]}
        )

    def delete_attribute(self, code: str) -> Any:
        """Delete one attribute by code."""
        return self.call("deleteAttribute", api_class="PIMAPI", json={"code": code})

    def upsert_attribute_options(self, attribute_code: str, options: Sequence[Mapping[str, Any]]) -> Any:
        """Create or update the options of a select attribute."""
        body = {"code": attribute_code, "options": [dict(o) for o in options]}
        return self.call("upsertAttributeOptions", api_class="PIMAPI", json=body)

    def upsert_attribute_option(self, attribute_code: str, option: Mapping[str, Any]) -> Any:
        """Create or update one option of a select attribute."""
        body = {"attributeCode": attribute_code, "option": dict(option)}
        return self.call("upsertAttributeOption", api_class="PIMAPI", json=body)

    def delete_attribute_option(self, attribute_code: str, code: str) -> Any:
        """Delete one option of a select attribute."""
        body = {"attributeCode": attribute_code, "code": code}
        return self.call("deleteAttributeOption", api_class="PIMAPI", json=body)

    # -- Merchant: stock and price feeds --------------------------------------------------------------
    # NOTE: only receivePrice is named by the public reference; the MerchantAPI class segment, the other
    # method names and every body and answer shape below are assumed. Each is a parameter, and the
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
            response = self._get_with_retries(target)
            if not response.is_redirect:
                return response
            location = response.headers.get("Location", "")
            response.close()
            target = urljoin(target, location)
        raise MircateConnectionError(
            f"Downloading the exported file {self._without_query(url)} was redirected more than {max_redirects} times."
        )

    def _check_same_origin(self, target: str, original: str) -> None:
        if self._origin(target) != self._origin(self.settings.base_url):
            raise MircateConfigError(
                f"The exported file URL {self._without_query(original)} leads to {self._origin(target)}, not to the host "
                f"of connection {self.mircate_conn_id!r} ({self._origin(self.settings.base_url)}). The API key "
                "is only sent to the connection's host, so the file was not downloaded."
            )

    def _get_with_retries(self, url: str) -> requests.Response:
        """GET ``url`` as a stream, without following redirects, with the retry policy of :meth:`call`."""
        policy = self.retry_policy
        timeout = (self.settings.connect_timeout, self.settings.read_timeout)
        safe_url = self._without_query(url)
        attempt = 0
        while True:
            delay = self.rate_limiter.reserve()
            if delay:
                time.sleep(delay)
            try:
                response = self.session.get(url, stream=True, timeout=timeout, allow_redirects=False)
            except requests.RequestException as exc:
                if attempt >= policy.max_retries:
                    raise connection_error(
                        "download", safe_url, type(exc).__name__, attempts=attempt + 1
                    ) from exc
                reason, wait = type(exc).__name__, policy.backoff(attempt)
            else:
                status = response.status_code
                if status < 400:
                    return response
                body = response.raw.read(4096, decode_content=True)
                response.close()
                retryable = policy.should_retry_status(status, "idempotent")
                if not retryable or attempt >= policy.max_retries:
                    raise error_from_response(
                        status, body, method="download", conn_id=self.mircate_conn_id, after_retries=retryable
                    )
                reason = f"HTTP {status}"
                wait = policy.wait_for_status(
                    attempt, status, response.headers.get("Retry-After"), f"Download of {safe_url}"
                )
            attempt += 1
            self.log.warning(
                "Downloading %s failed with %s; retry %d of %d in %.2f s",
                safe_url,
                reason,
                attempt,
                policy.max_retries,
                wait,
            )
            time.sleep(wait)

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
        """Remove the given skus from the merchant's products and return the answer (``{removed}``)."""
        if isinstance(skus, str) or not skus:
            raise MircateValidationError(f"{method} needs a non-empty list of skus, got {skus!r}.")
        return self.call(method, api_class=api_class, json={"skus": list(skus)}) or {}

    def clean_my_products(
        self, *, method: str = "cleanMyProducts", api_class: str = "MerchantAPI"
    ) -> dict[str, Any]:
        """Remove every product of the merchant and return the answer (``{removed}``)."""
        return self.call(method, api_class=api_class, json={}) or {}

    @staticmethod
    def _required_field(answer: Any, name: str, method: str) -> str:
        value = answer.get(name) if isinstance(answer, Mapping) else None
        if not value:
            keys = sorted(answer) if isinstance(answer, Mapping) else type(answer).__name__
            raise MircateValidationError(
                f"{method} returned no {name!r} field (keys: {keys}). Pass the field name the live API "
                "uses (id_field)."
            )
        return str(value)

    @staticmethod
    def _list_field(answer: Any, name: str, method: str) -> list[dict[str, Any]]:
        value = answer.get(name) if isinstance(answer, Mapping) else answer
        if not isinstance(value, list):
            keys = sorted(answer) if isinstance(answer, Mapping) else type(answer).__name__
            raise MircateValidationError(
                f"{method} returned no {name!r} list (keys: {keys}). Pass the field name the live API "
                "uses (list_field)."
            )
        return value

    @staticmethod
    def _origin(url: str) -> str:
        """Return ``scheme://host:port`` of a URL, with the scheme's default port filled in."""
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
        return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"

    @staticmethod
    def _without_query(url: str) -> str:
        """Drop the query and fragment, which may carry a signature, from a URL shown in logs and errors."""
        parts = urlsplit(url)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))

    # -- connection test --------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Make one cheap authenticated call and return ``(ok, message)``."""
        try:
            method, verb, api_class = self._test_call(self.settings.api)
            self.call(method, api_class=api_class, http_method=verb)
        except Exception as exc:
            return False, self._explain_failure(exc, self.mircate_conn_id)
        return True, f"Connected to {self.settings.base_url} as account {self.settings.account_id}."


_BROKEN = object()


def _parse_body(response: requests.Response) -> Any:
    """Return the JSON body, ``None`` for an empty one, or ``_BROKEN`` when the body was cut short."""
    try:
        content = response.content
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError):
        return _BROKEN
    if response.status_code == 204 or not content:
        return None
    expected = response.headers.get("Content-Length")
    if expected is not None and expected.isdigit() and int(expected) != len(content):
        return _BROKEN
    try:
        return response.json()
    except ValueError:
        return _BROKEN


def _failure_kind(exc: requests.RequestException) -> FailureKind:
    """Tell a request that surely never reached the server from one that may have been applied."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "not_sent"
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = repr(exc)
        if "NewConnectionError" in text or "Connection refused" in text or "NameResolutionError" in text:
            return "not_sent"
    return "ambiguous"


def unwrap_product(item: Mapping[str, Any]) -> dict[str, Any]:
    """Return the canonical record of a ``getProducts`` item, unwrapping ``{score, source}``."""
    source = item.get("source")
    if isinstance(source, dict):
        return source
    return dict(item)
