"""
Write the example supplier drop: ``prices.csv`` and ``stock.csv`` for 300 skus, the same on every run.

Run ``python example_dags/data/merchant/make_feed.py [FOLDER]``; FOLDER defaults to this file's folder.
"""

from __future__ import annotations

import csv
import random
import sys
from decimal import Decimal
from pathlib import Path

SKUS = 300
SEED = 20261204
WAREHOUSES = ("IST", "ANK")
CHANNELS = ("web", "marketplace")


def write_feed(folder: Path) -> None:
    """Write ``prices.csv`` (one row per sku and channel) and ``stock.csv`` (one row per sku and warehouse)."""
    rng = random.Random(SEED)
    folder.mkdir(parents=True, exist_ok=True)
    with (
        (folder / "prices.csv").open("w", newline="", encoding="utf-8") as prices,
        (folder / "stock.csv").open("w", newline="", encoding="utf-8") as stock,
    ):
        price_writer = csv.writer(prices, lineterminator="\n")
        stock_writer = csv.writer(stock, lineterminator="\n")
        price_writer.writerow(["sku", "price", "currency", "channel", "listPrice"])
        stock_writer.writerow(["sku", "quantity", "warehouse"])
        for number in range(1, SKUS + 1):
            sku = f"SUP_{number:05d}"
            # Whole cents as integers, so every price is an exact two-decimal string.
            list_cents = rng.randint(500, 50_000)
            for channel in CHANNELS:
                discount = rng.choice((0, 5, 10, 15))
                cents = list_cents * (100 - discount) // 100
                price = Decimal(cents).scaleb(-2)
                list_price = Decimal(list_cents).scaleb(-2) if discount else ""
                price_writer.writerow([sku, price, "TRY", channel, list_price])
            for warehouse in WAREHOUSES:
                stock_writer.writerow([sku, rng.randint(0, 250), warehouse])


if __name__ == "__main__":
    write_feed(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
