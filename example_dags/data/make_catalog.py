"""
Write the demo catalog that the example DAGs load: products, variants, categories, attributes, images.

The output is deterministic (a fixed random seed and no clock), so rerunning the script reproduces the
committed files byte for byte. Only the standard library is used.

Files written to the output folder (default: the folder of this script):

- ``attributes.json``: ``{"attributes": [...], "options": {attribute_code: [{code, label}]}}``, one
  attribute of each of the 11 types, labels in en_US and tr_TR.
- ``categories.json``: a list of category trees, three levels deep, in the ``upsertCategory`` shape.
- ``products.csv``: the simple products, one row each, in the product CSV grammar.
- ``variants.jsonl``: product models and their variants as canonical records, one a line; each model
  comes before its variants.
- ``product_images.jsonl``: ``{file, product_id, attribute_code}`` for each image to attach; the image
  files themselves are drawn by ``make_images.py``.

Usage: ``python example_dags/data/make_catalog.py [OUTPUT_FOLDER]``
"""

from __future__ import annotations

import csv
import io
import json
import random
import sys
from pathlib import Path
from typing import Any

SEED = 20240901
LOCALES = ("en_US", "tr_TR")
CHANNEL = "default"
PRODUCTS_PER_FAMILY = 60


def label(en: str, tr: str) -> list[dict[str, str]]:
    return [{"locale": "en_US", "value": en}, {"locale": "tr_TR", "value": tr}]


# -- attributes -------------------------------------------------------------------------------------

OPTIONS: dict[str, list[tuple[str, str, str]]] = {
    "color": [
        ("black", "Black", "Siyah"),
        ("white", "White", "Beyaz"),
        ("navy", "Navy", "Lacivert"),
        ("red", "Red", "Kırmızı"),
        ("green", "Green", "Yeşil"),
        ("grey", "Grey", "Gri"),
        ("beige", "Beige", "Bej"),
        ("blue", "Blue", "Mavi"),
    ],
    "size": [
        ("XS", "XS", "XS"),
        ("S", "S", "S"),
        ("M", "M", "M"),
        ("L", "L", "L"),
        ("XL", "XL", "XL"),
        *[(f"EU{n}", f"EU {n}", f"EU {n}") for n in range(38, 46)],
        ("ONE_SIZE", "One size", "Tek beden"),
    ],
    "material": [
        ("cotton", "Cotton", "Pamuk"),
        ("polyester", "Polyester", "Polyester"),
        ("wool", "Wool", "Yün"),
        ("leather", "Leather", "Deri"),
        ("rubber", "Rubber", "Kauçuk"),
        ("aluminium", "Aluminium", "Alüminyum"),
        ("plastic", "Plastic", "Plastik"),
        ("steel", "Stainless steel", "Paslanmaz çelik"),
        ("ceramic", "Ceramic", "Seramik"),
        ("linen", "Linen", "Keten"),
        ("wood", "Wood", "Ahşap"),
    ],
    "features": [
        ("bluetooth", "Bluetooth", "Bluetooth"),
        ("wifi", "Wi-Fi", "Wi-Fi"),
        ("usb_c", "USB-C", "USB-C"),
        ("noise_cancelling", "Noise cancelling", "Gürültü engelleme"),
        ("water_resistant", "Water resistant", "Suya dayanıklı"),
        ("dishwasher_safe", "Dishwasher safe", "Bulaşık makinesinde yıkanabilir"),
        ("machine_washable", "Machine washable", "Makinede yıkanabilir"),
        ("recycled", "Recycled material", "Geri dönüştürülmüş malzeme"),
    ],
}

IMAGE_EXTENSIONS = ["jpeg", "jpg", "png", "webp"]


def make_attributes() -> dict[str, Any]:
    attributes = [
        {"code": "name", "type": "TEXT", "localizable": True, "scopable": False, "group": "general",
         "label": label("Name", "Ad")},
        {"code": "description", "type": "TEXTAREA", "localizable": True, "scopable": True, "group": "general",
         "label": label("Description", "Açıklama")},
        {"code": "ean", "type": "IDENTIFIER", "unique": True, "group": "general",
         "label": label("EAN barcode", "EAN barkodu")},
        {"code": "featured", "type": "BOOLEAN", "group": "marketing",
         "label": label("Featured", "Öne çıkan")},
        {"code": "weight_kg", "type": "NUMBER", "negativeAllowed": False, "decimalsAllowed": True,
         "min": 0, "max": 100, "group": "logistics", "label": label("Weight (kg)", "Ağırlık (kg)")},
        {"code": "warranty_months", "type": "NUMBER", "negativeAllowed": False, "decimalsAllowed": False,
         "min": 0, "max": 120, "group": "logistics", "label": label("Warranty (months)", "Garanti (ay)")},
        {"code": "image", "type": "IMAGE", "maxFileSizeInMB": 5, "allowedExtensions": IMAGE_EXTENSIONS,
         "group": "media", "label": label("Main image", "Ana görsel")},
        {"code": "gallery", "type": "IMAGE_LIST", "maxFileSizeInMB": 5, "allowedExtensions": IMAGE_EXTENSIONS,
         "group": "media", "label": label("Gallery", "Galeri")},
        {"code": "color", "type": "SIMPLESELECT", "group": "variation", "label": label("Color", "Renk")},
        {"code": "size", "type": "SIMPLESELECT", "group": "variation", "label": label("Size", "Beden")},
        {"code": "material", "type": "MULTISELECT", "group": "general", "label": label("Material", "Malzeme")},
        {"code": "features", "type": "MULTISELECT", "group": "general",
         "label": label("Features", "Özellikler")},
        {"code": "release_date", "type": "DATE", "min": "2015-01-01", "max": "2030-12-31", "group": "marketing",
         "label": label("Release date", "Çıkış tarihi")},
        {"code": "price", "type": "PRICE", "scopable": True, "decimalsAllowed": True, "group": "marketing",
         "label": label("Price", "Fiyat")},
    ]  # fmt: skip
    options = {
        code: [{"code": option, "label": label(en, tr)} for option, en, tr in values]
        for code, values in OPTIONS.items()
    }
    return {"attributes": attributes, "options": options}


# -- categories -------------------------------------------------------------------------------------

# department -> (en, tr, {branch -> (en, tr, {leaf -> (en, tr)})})
CATEGORY_TREE: dict[str, tuple[str, str, dict[str, tuple[str, str, dict[str, tuple[str, str]]]]]] = {
    "apparel": ("Apparel", "Giyim", {
        "men": ("Men", "Erkek", {"tshirts": ("T-shirts", "Tişörtler"), "jackets": ("Jackets", "Ceketler")}),
        "women": ("Women", "Kadın", {"dresses": ("Dresses", "Elbiseler"), "knitwear": ("Knitwear", "Triko")}),
    }),
    "footwear": ("Footwear", "Ayakkabı", {
        "sport": ("Sport", "Spor", {"running": ("Running shoes", "Koşu ayakkabıları"),
                                    "trail": ("Trail shoes", "Arazi ayakkabıları")}),
        "casual": ("Casual", "Günlük", {"sneakers": ("Sneakers", "Spor ayakkabılar"),
                                        "boots": ("Boots", "Botlar")}),
    }),
    "electronics": ("Electronics", "Elektronik", {
        "audio": ("Audio", "Ses", {"headphones": ("Headphones", "Kulaklıklar"),
                                   "speakers": ("Speakers", "Hoparlörler")}),
        "computing": ("Computing", "Bilgisayar", {"keyboards": ("Keyboards", "Klavyeler"),
                                                  "mice": ("Mice", "Fareler")}),
    }),
    "home": ("Home", "Ev", {
        "kitchen": ("Kitchen", "Mutfak", {"cookware": ("Cookware", "Pişirme gereçleri"),
                                          "knives": ("Knives", "Bıçaklar")}),
        "decor": ("Decor", "Dekorasyon", {"lamps": ("Lamps", "Lambalar"),
                                          "cushions": ("Cushions", "Minderler")}),
    }),
}  # fmt: skip


def make_categories() -> list[dict[str, Any]]:
    trees = []
    for department, (en, tr, branches) in CATEGORY_TREE.items():
        branch_nodes = []
        for branch, (branch_en, branch_tr, leaves) in branches.items():
            leaf_nodes = [
                {
                    "code": f"{department}_{branch}_{leaf}",
                    "label": label(leaf_en, leaf_tr),
                    "description": label(f"{branch_en} {leaf_en.lower()}", f"{branch_tr} {leaf_tr.lower()}"),
                    "subCategories": [],
                }
                for leaf, (leaf_en, leaf_tr) in leaves.items()
            ]
            branch_nodes.append(
                {
                    "code": f"{department}_{branch}",
                    "label": label(branch_en, branch_tr),
                    "description": label(f"{en}: {branch_en}", f"{tr}: {branch_tr}"),
                    "subCategories": leaf_nodes,
                }
            )
        trees.append(
            {
                "code": department,
                "label": label(en, tr),
                "description": label(f"All {en.lower()}", f"Tüm {tr.lower()} ürünleri"),
                "subCategories": branch_nodes,
            }
        )
    return trees


# -- products ---------------------------------------------------------------------------------------

# leaf category -> (sku prefix, noun en, noun tr, materials, features, sizes, weight range kg, price range EUR)
LEAVES: dict[str, tuple[str, str, str, list[str], list[str], list[str], tuple[float, float], tuple[int, int]]] = {
    "apparel_men_tshirts": ("TS", "T-shirt", "Tişört", ["cotton", "polyester", "linen"],
                            ["machine_washable", "recycled"], ["S", "M", "L", "XL"], (0.15, 0.3), (12, 35)),
    "apparel_men_jackets": ("JK", "Jacket", "Ceket", ["polyester", "wool", "leather"],
                            ["water_resistant", "recycled"], ["M", "L", "XL"], (0.6, 1.8), (60, 240)),
    "apparel_women_dresses": ("DR", "Dress", "Elbise", ["cotton", "linen", "polyester"],
                              ["machine_washable"], ["XS", "S", "M", "L"], (0.2, 0.6), (35, 150)),
    "apparel_women_knitwear": ("KN", "Sweater", "Kazak", ["wool", "cotton"],
                               ["machine_washable", "recycled"], ["XS", "S", "M", "L"], (0.3, 0.7), (40, 130)),
    "footwear_sport_running": ("RN", "Running Shoe", "Koşu Ayakkabısı", ["polyester", "rubber"],
                               ["recycled"], ["EU40", "EU41", "EU42", "EU43", "EU44"], (0.5, 0.8), (70, 180)),
    "footwear_sport_trail": ("TR", "Trail Shoe", "Arazi Ayakkabısı", ["polyester", "rubber", "leather"],
                             ["water_resistant"], ["EU40", "EU41", "EU42", "EU43", "EU44", "EU45"],
                             (0.6, 0.9), (90, 200)),
    "footwear_casual_sneakers": ("SN", "Sneaker", "Spor Ayakkabı", ["leather", "rubber"], ["recycled"],
                                 ["EU38", "EU39", "EU40", "EU41", "EU42"], (0.5, 0.9), (55, 150)),
    "footwear_casual_boots": ("BT", "Boot", "Bot", ["leather", "rubber", "wool"], ["water_resistant"],
                              ["EU39", "EU40", "EU41", "EU42", "EU43"], (0.9, 1.6), (90, 260)),
    "electronics_audio_headphones": ("HP", "Headphones", "Kulaklık", ["plastic", "aluminium"],
                                     ["bluetooth", "noise_cancelling", "usb_c"], ["ONE_SIZE"], (0.15, 0.35),
                                     (30, 400)),
    "electronics_audio_speakers": ("SP", "Speaker", "Hoparlör", ["plastic", "aluminium", "wood"],
                                   ["bluetooth", "wifi", "water_resistant"], ["ONE_SIZE"], (0.3, 4.5),
                                   (40, 600)),
    "electronics_computing_keyboards": ("KB", "Keyboard", "Klavye", ["plastic", "aluminium"],
                                        ["bluetooth", "usb_c"], ["ONE_SIZE"], (0.4, 1.2), (25, 220)),
    "electronics_computing_mice": ("MS", "Mouse", "Fare", ["plastic"], ["bluetooth", "usb_c"], ["ONE_SIZE"],
                                   (0.06, 0.15), (15, 130)),
    "home_kitchen_cookware": ("CW", "Frying Pan", "Tava", ["steel", "aluminium", "ceramic"],
                              ["dishwasher_safe"], ["ONE_SIZE"], (0.8, 3.0), (25, 180)),
    "home_kitchen_knives": ("KF", "Chef Knife", "Şef Bıçağı", ["steel", "wood"], ["dishwasher_safe"],
                            ["ONE_SIZE"], (0.15, 0.4), (20, 210)),
    "home_decor_lamps": ("LM", "Table Lamp", "Masa Lambası", ["ceramic", "steel", "wood", "linen"], ["usb_c"],
                         ["ONE_SIZE"], (0.8, 4.0), (30, 250)),
    "home_decor_cushions": ("CU", "Cushion", "Minder", ["cotton", "linen", "wool"],
                            ["machine_washable", "recycled"], ["ONE_SIZE"], (0.3, 0.9), (12, 60)),
}  # fmt: skip

ADJECTIVES = [
    ("Classic", "Klasik"), ("Urban", "Şehir"), ("Coastal", "Sahil"), ("Alpine", "Alp"),
    ("Nordic", "İskandinav"), ("Essential", "Temel"), ("Studio", "Stüdyo"), ("Heritage", "Miras"),
    ("Vista", "Vista"), ("Aurora", "Aurora"), ("Summit", "Zirve"), ("Harbor", "Liman"),
    ("Pioneer", "Öncü"), ("Meridian", "Meridyen"), ("Breeze", "Esinti"),
]  # fmt: skip
COLORS = [code for code, _, _ in OPTIONS["color"]]
COLOR_NAMES = {code: (en, tr) for code, en, tr in OPTIONS["color"]}
GROUPS = ["new_arrivals", "summer_sale", "bestsellers"]
# Currency rates from EUR, fixed so that the output is reproducible.
RATES = {"EUR": 1.0, "USD": 1.08, "TRY": 35.0}


def ean13(number: int) -> str:
    """Return a valid EAN-13 with the GS1 prefix 869 (Türkiye) for ``number``."""
    body = f"869{number:09d}"
    total = sum(int(digit) * (3 if index % 2 else 1) for index, digit in enumerate(body))
    return body + str((10 - total % 10) % 10)


def price_cell(euros: float) -> str:
    return "|".join(f"{euros * rate:.2f} {currency}" for currency, rate in RATES.items())


def price_value(euros: float) -> list[dict[str, str]]:
    return [{"amount": f"{euros * rate:.2f}", "currency": currency} for currency, rate in RATES.items()]


def describe(noun_en: str, noun_tr: str, color: str, materials: list[str]) -> tuple[str, str]:
    color_en, color_tr = COLOR_NAMES[color]
    material_en = " and ".join(m for m in materials)
    english = f"A {color_en.lower()} {noun_en.lower()} made of {material_en}, built for everyday use."
    turkish = f"Günlük kullanım için {color_tr.lower()} renkli {noun_tr.lower()}."
    return english, turkish


CSV_COLUMNS = [
    "sku", "family", "status", "enabled", "dataType", "parent", "code", "categories", "groups",
    "attr.name.en_US", "attr.name.tr_TR",
    f"attr.description.en_US.{CHANNEL}", f"attr.description.tr_TR.{CHANNEL}",
    "attr.ean", "attr.featured", "attr.weight_kg", "attr.warranty_months",
    "attr.color", "attr.size", "attr.material", "attr.features", "attr.release_date",
    f"attr.price.-.{CHANNEL}",
]  # fmt: skip


def family_of(leaf: str) -> str:
    return leaf.split("_", 1)[0]


def make_products(rng: random.Random) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """Return the CSV rows of the simple products and the images to attach to them."""
    rows: list[dict[str, str]] = []
    images: list[dict[str, Any]] = []
    number = 0
    leaves_by_family: dict[str, list[str]] = {}
    for leaf in LEAVES:
        leaves_by_family.setdefault(family_of(leaf), []).append(leaf)
    for family, leaves in leaves_by_family.items():
        for index in range(PRODUCTS_PER_FAMILY):
            leaf = leaves[index % len(leaves)]
            prefix, noun_en, noun_tr, materials, features, sizes, weights, prices = LEAVES[leaf]
            number += 1
            sku = f"{prefix}_{number:04d}"
            adjective_en, adjective_tr = ADJECTIVES[(number * 7) % len(ADJECTIVES)]
            color = rng.choice(COLORS)
            chosen_materials = sorted(rng.sample(materials, k=min(len(materials), rng.randint(1, 2))))
            chosen_features = sorted(rng.sample(features, k=rng.randint(0, len(features))))
            description_en, description_tr = describe(noun_en, noun_tr, color, chosen_materials)
            status = rng.choices(["ACTIVE", "DRAFT", "ARCHIVED"], weights=[80, 15, 5])[0]
            euros = round(rng.uniform(*prices)) - 0.01
            warranty = 24 if family == "electronics" else rng.choice([0, 6, 12])
            groups = sorted(rng.sample(GROUPS, k=rng.choice([0, 0, 1, 1, 2])))
            rows.append(
                {
                    "sku": sku,
                    "family": family,
                    "status": status,
                    "enabled": "true" if status == "ACTIVE" else "false",
                    "dataType": "PRODUCT",
                    "parent": "",
                    "code": "",
                    "categories": leaf,
                    "groups": "|".join(groups),
                    "attr.name.en_US": f"{adjective_en} {noun_en}",
                    "attr.name.tr_TR": f"{adjective_tr} {noun_tr}",
                    f"attr.description.en_US.{CHANNEL}": description_en,
                    f"attr.description.tr_TR.{CHANNEL}": description_tr,
                    "attr.ean": ean13(number),
                    "attr.featured": "true" if rng.random() < 0.15 else "false",
                    "attr.weight_kg": f"{rng.uniform(*weights):.2f}",
                    "attr.warranty_months": str(warranty),
                    "attr.color": color,
                    "attr.size": rng.choice(sizes),
                    "attr.material": "|".join(chosen_materials),
                    "attr.features": "|".join(chosen_features),
                    "attr.release_date": f"{rng.randint(2019, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                    f"attr.price.-.{CHANNEL}": price_cell(euros),
                }
            )
            images.append({"file": f"{sku}.jpg", "product_id": sku, "attribute_code": "image"})
    return rows, images


# model code -> (leaf, name en, name tr, colors, sizes, EUR price, materials, features)
MODELS: dict[str, tuple[str, str, str, list[str], list[str], float, list[str], list[str]]] = {
    "M_TS_ORGANIC": ("apparel_men_tshirts", "Organic Crew T-shirt", "Organik Bisiklet Yaka Tişört",
                     ["white", "black", "navy"], ["S", "M", "L", "XL"], 24.99, ["cotton"],
                     ["machine_washable"]),
    "M_SN_COURT": ("footwear_casual_sneakers", "Court Sneaker", "Kort Spor Ayakkabı", ["white", "green"],
                   ["EU39", "EU40", "EU41", "EU42", "EU43"], 89.99, ["leather", "rubber"], ["recycled"]),
    "M_HP_STUDIO": ("electronics_audio_headphones", "Studio Wireless Headphones", "Stüdyo Kablosuz Kulaklık",
                    ["black", "white", "blue"], [], 199.99, ["plastic", "aluminium"],
                    ["bluetooth", "noise_cancelling", "usb_c"]),
    "M_CU_LINEN": ("home_decor_cushions", "Linen Cushion 45x45", "Keten Minder 45x45",
                   ["beige", "grey", "green", "navy"], [], 29.99, ["linen"], ["machine_washable"]),
}  # fmt: skip


def attribute(code: str, value: Any, locale: str | None = None, scope: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {}
    if scope:
        item["scope"] = scope
    if locale:
        item["locale"] = locale
    item["value"] = value
    return {"code": code, "data": [item]}


def localized(code: str, en: str, tr: str, scope: str | None = None) -> dict[str, Any]:
    items = []
    for locale, value in (("en_US", en), ("tr_TR", tr)):
        item: dict[str, Any] = {"locale": locale, "value": value}
        if scope:
            item = {"scope": scope, **item}
        items.append(item)
    return {"code": code, "data": items}


def make_variants(rng: random.Random, first_number: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return the model and variant records, each model before its variants, and the model images."""
    records: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []
    number = first_number
    for code, (leaf, name_en, name_tr, colors, sizes, euros, materials, features) in MODELS.items():
        family = family_of(leaf)
        description_en, description_tr = describe(name_en, name_tr, colors[0], materials)
        records.append(
            {
                "dataType": "PRODUCT_MODEL",
                "data": {
                    "sku": code,
                    "code": code,
                    "family": family,
                    "status": "ACTIVE",
                    "enabled": True,
                    "categories": [leaf],
                    "groups": ["new_arrivals"],
                    "attributes": [
                        localized("name", name_en, name_tr),
                        localized("description", description_en, description_tr, scope=CHANNEL),
                        attribute("material", materials),
                        attribute("features", features),
                        attribute("warranty_months", 24 if family == "electronics" else 6),
                        attribute("release_date", "2025-03-01"),
                        attribute("price", price_value(euros), scope=CHANNEL),
                    ],
                },
            }
        )
        images.append({"file": f"{code}.jpg", "product_id": code, "attribute_code": "image"})
        for view in (1, 2):
            images.append({"file": f"{code}_view{view}.jpg", "product_id": code, "attribute_code": "gallery"})

        for color in colors:
            for size in sizes or [None]:
                number += 1
                suffix = f"{color.upper()}_{size}" if size else color.upper()
                axes_values = [{"axe": "color", "value": color}]
                variant_attributes = [
                    attribute("color", color),
                    attribute("ean", ean13(number)),
                    attribute("weight_kg", round(rng.uniform(0.2, 0.9), 2)),
                ]
                if size:
                    axes_values.append({"axe": "size", "value": size})
                    variant_attributes.append(attribute("size", size))
                records.append(
                    {
                        "dataType": "PRODUCT",
                        "parent": code,
                        "data": {
                            "sku": f"{code[2:]}_{suffix}",
                            "family": family,
                            "status": "ACTIVE",
                            "enabled": True,
                            "categories": [leaf],
                            "axesValues": axes_values,
                            "attributes": variant_attributes,
                        },
                    }
                )
    return records, images


def render_csv(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def render_jsonl(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


def write_catalog(folder: Path) -> dict[str, int]:
    """Write every catalog file into ``folder`` and return the record counts."""
    rng = random.Random(SEED)
    rows, product_images = make_products(rng)
    variants, model_images = make_variants(rng, first_number=len(rows))
    folder.mkdir(parents=True, exist_ok=True)
    attributes = make_attributes()
    files = {
        "attributes.json": json.dumps(attributes, ensure_ascii=False, indent=2) + "\n",
        "categories.json": json.dumps(make_categories(), ensure_ascii=False, indent=2) + "\n",
        "products.csv": render_csv(rows),
        "variants.jsonl": render_jsonl(variants),
        "product_images.jsonl": render_jsonl(product_images + model_images),
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return {
        "products": len(rows),
        "models": sum(1 for r in variants if r["dataType"] == "PRODUCT_MODEL"),
        "variants": sum(1 for r in variants if r["dataType"] == "PRODUCT"),
        "images": len(product_images) + len(model_images),
        "attributes": len(attributes["attributes"]),
    }


def main(argv: list[str]) -> int:
    folder = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent
    counts = write_catalog(folder)
    print(f"Wrote the catalog to {folder}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
