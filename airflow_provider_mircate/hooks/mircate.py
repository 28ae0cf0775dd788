"""The synchronous Mircate hook: every PIM method, the merchant calls and a generic ``call``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import requests

from airflow_provider_mircate.exceptions import (
    MircateAPIError,
    MircateResultWindowError,
    MircateValidationError,
)
from airflow_provider_mircate.hooks.merchant import MAX_BULK_ITEMS, MircateMerchantMethods
from airflow_provider_mircate.hooks.retry import rename_status_fields

if TYPE_CHECKING:
    from datetime import datetime

RESULT_WINDOW = 10_000
IMAGE_PARAMETERS = ("background", "compressionLevel", "fit", "format", "quality", "height", "width")

__all__ = ["IMAGE_PARAMETERS", "MAX_BULK_ITEMS", "RESULT_WINDOW", "MircateHook", "unwrap_product"]


class MircateHook(MircateMerchantMethods):
    """
    Call the Mircate API over one pooled HTTP session.

    Every call goes to ``{host}/{project_id}/CALL/{api_class}/{method}/{account_id}`` with the API key
    in the ``x-api-key`` header. HTTP 429, 5xx, connection errors and timeouts are retried with capped
    exponential backoff and full jitter, honouring ``Retry-After``; 400, 403 and 404 raise at once.
    The merchant feed calls are in :class:`~airflow_provider_mircate.hooks.merchant.MircateMerchantMethods`.

    :param mircate_conn_id: the id of a connection of type ``mircate``.
    :param pool_size: the number of HTTP connections kept open, for callers that share one hook across
        threads.
    :param settings: ready settings that replace the connection lookup.
    :param max_retries: retries per request, replacing the connection extra ``max_retries``.
    """

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
        memory use (about 140 bytes a product, measured).
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
                f"{method} returned no {id_field!r} field (keys: {sorted(answer)}). Set id_field to "
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
        status_fields: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """
        Return ``{batchId, status, total, processed, failed, errors}`` for one batch.

        NOTE: the method name and response shape are assumed, so each is a parameter.
        """
        api_class, verb, kwargs = self.batch_status_request(
            batch_id, id_field=id_field, api_class=api_class, http_method=http_method
        )
        answer = self.call(method, api_class=api_class, http_method=verb, **kwargs)
        return rename_status_fields(answer or {}, status_fields)

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

    # -- connection test --------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Make one cheap authenticated call and return ``(ok, message)``."""
        try:
            method, verb, api_class = self._test_call(self.settings.api)
            self.call(method, api_class=api_class, http_method=verb)
        except Exception as exc:
            return False, self._explain_failure(exc, self.mircate_conn_id)
        return True, f"Connected to {self.settings.base_url} as account {self.settings.account_id}."


def unwrap_product(item: Mapping[str, Any]) -> dict[str, Any]:
    """Return the canonical record of a ``getProducts`` item, unwrapping ``{score, source}``."""
    source = item.get("source")
    if isinstance(source, dict):
        return source
    return dict(item)
