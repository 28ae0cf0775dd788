"""The method tables: for each API class, the HTTP verb and handler of every method."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_provider_mircate.testing.emulator import merchant, pim, pim_images

Handler = Callable[[Any], Any]

PIM_METHODS: dict[str, tuple[str, Handler]] = {
    "getProducts": ("POST", pim.get_products),
    "getProductSettings": ("GET", pim.get_product_settings),
    "getCatalogSettings": ("GET", pim.get_catalog_settings),
    "upsertProduct": ("POST", pim.upsert_product),
    "upsertCategory": ("POST", pim.upsert_category),
    "bulkProductUpsert": ("POST", pim.bulk_product_upsert),
    "checkBatchStatus": ("POST", pim.check_batch_status),
    "deleteProduct": ("POST", pim.delete_product),
    "attachProductAttributeImage": ("POST", pim_images.attach_product_attribute_image),
    "attachCategoryImage": ("POST", pim_images.attach_category_image),
    "getImage": ("GET", pim_images.get_image),
    "upsertAttributes": ("POST", pim.upsert_attributes),
    "deleteAttribute": ("POST", pim.delete_attribute),
    "upsertAttributeOptions": ("POST", pim.upsert_attribute_options),
    "upsertAttributeOption": ("POST", pim.upsert_attribute_option),
    "deleteAttributeOption": ("POST", pim.delete_attribute_option),
}

MERCHANT_METHODS: dict[str, tuple[str, Handler]] = {
    "receiveStock": ("POST", merchant.receive_stock),
    "receivePrice": ("POST", merchant.receive_price),
    "checkBatchStatus": ("GET", merchant.check_batch_status),
    "exportStockPrice": ("POST", merchant.export_stock_price),
    "listExports": ("POST", merchant.list_exports),
    "getExportedFiles": ("POST", merchant.get_exported_files),
    "getStockPriceHistory": ("POST", merchant.get_stock_price_history),
    "removeMyProducts": ("POST", merchant.remove_my_products),
    "cleanMyProducts": ("POST", merchant.clean_my_products),
}

# The item handler of each batch kind, so that unfinished batches can resume after a restart.
ITEM_HANDLERS: dict[str, Callable[[Any, Any], None]] = {
    "products": pim.apply_product_item,
    "stock": merchant.apply_stock_item,
    "price": merchant.apply_price_item,
}
