"""
Operators for the catalog structure: categories, attributes and their options, and product deletion.

Mircate has no endpoint that cancels a call in progress, so these operators define no ``on_kill``. A
killed task leaves the calls it already sent applied. Rerunning it is safe because every call here is
an upsert or delete keyed by code or sku.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_mircate.exceptions import (
    MircateConfigError,
    MircateNotFoundError,
    MircateValidationError,
)
from airflow_provider_mircate.hooks.mircate import MircateHook
from airflow_provider_mircate.hooks.slicing import product_key
from airflow_provider_mircate.utils.attributes import ATTRIBUTE_TYPES
from airflow_provider_mircate.utils.validation import is_valid_sku

if TYPE_CHECKING:
    from airflow.sdk import Context

CODE_PATTERN = re.compile(r"[A-Za-z0-9_]+")
# Invalid source keys listed in the error message; the count covers all of them.
MAX_LISTED_KEYS = 20


def validate_code(value: Any, where: str) -> str:
    """Return ``value`` when it is a code of ``[A-Za-z0-9_]+``; raise ``MircateValidationError`` naming it."""
    if not isinstance(value, str) or not CODE_PATTERN.fullmatch(value):
        raise MircateValidationError(
            f"{where} has an invalid code {value!r}: use letters, digits and '_' only, such as 'shoes_2024'."
        )
    return value


def validate_translations(value: Any, where: str) -> None:
    """Check a ``label`` or ``description``: a list of ``{locale, value}`` dicts with string values."""
    if value is None:
        return
    if not isinstance(value, list):
        raise MircateValidationError(
            f"{where} must be a list of {{locale, value}} dicts, such as "
            f"[{{'locale': 'en_US', 'value': 'Shoes'}}], not {value!r}."
        )
    for index, item in enumerate(value):
        if (
            not isinstance(item, Mapping)
            or not isinstance(item.get("locale"), str)
            or not item.get("locale")
            or not isinstance(item.get("value"), str)
        ):
            raise MircateValidationError(
                f"{where}[{index}] is invalid: {item!r}. Each entry is {{'locale': 'en_US', 'value': '...'}}."
            )


def validate_category(category: Any, where: str = "category") -> int:
    """Validate one category tree recursively and return its number of categories."""
    if not isinstance(category, Mapping):
        raise MircateValidationError(f"{where} must be a dict with at least 'code', not {category!r}.")
    code = validate_code(category.get("code"), where)
    here = f"{where} {code!r}"
    validate_translations(category.get("label"), f"{here} label")
    validate_translations(category.get("description"), f"{here} description")
    image = category.get("image")
    if image is not None and not isinstance(image, str):
        raise MircateValidationError(f"{here} image must be a URL string, not {image!r}.")
    children = category.get("subCategories") or []
    if not isinstance(children, list):
        raise MircateValidationError(f"{here} subCategories must be a list of categories.")
    return 1 + sum(validate_category(child, f"{here} subCategories[{i}]") for i, child in enumerate(children))


class _MircateCatalogOperator(BaseOperator):
    """Shared parts: the connection id and the hook, built on first use."""

    def __init__(self, *, mircate_conn_id: str = "mircate_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mircate_conn_id = mircate_conn_id

    @cached_property
    def hook(self) -> MircateHook:
        return MircateHook(self.mircate_conn_id)


class MircateUpsertCategoryOperator(_MircateCatalogOperator):
    """
    Create or update category trees with ``upsertCategory``, one call a top-level tree.

    Returns ``{"trees": n, "categories": m}``, the calls made and the categories they contained.

    :param categories: one tree or a list of trees. A tree is ``{code, label, description, image,
        subCategories}``, where ``code`` is ``[A-Za-z0-9_]+``, ``label`` and ``description`` are lists of
        ``{locale, value}``, ``image`` is a URL and ``subCategories`` nests trees. (templated)
    :param mircate_conn_id: the id of a connection of type ``mircate``.
    """

    template_fields: Sequence[str] = ("mircate_conn_id", "categories")
    template_fields_renderers = {"categories": "json"}

    def __init__(
        self, *, categories: Mapping[str, Any] | list[Mapping[str, Any]] | str, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.categories = categories

    def execute(self, context: Context) -> dict[str, int]:
        trees = [self.categories] if isinstance(self.categories, Mapping) else self.categories
        if not isinstance(trees, list) or not trees:
            raise MircateConfigError(
                f"categories must be one category dict or a non-empty list of them, not {self.categories!r}."
            )
        total = sum(validate_category(tree, f"categories[{i}]") for i, tree in enumerate(trees))
        for tree in trees:
            self.hook.upsert_category(tree)
            self.log.info("Upserted category tree %r", tree["code"])
        return {"trees": len(trees), "categories": total}


class MircateUpsertAttributesOperator(_MircateCatalogOperator):
    """
    Create or update attributes with one ``upsertAttributes`` call.

    Returns ``{"upserted": n}``.

    :param attributes: attribute dicts in the shape of ``productSettings.attributes``, each with a
        ``code`` of ``[A-Za-z0-9_]+`` and a ``type`` among TEXT, TEXTAREA, BOOLEAN, IDENTIFIER, NUMBER,
        IMAGE, IMAGE_LIST, MULTISELECT, SIMPLESELECT, DATE and PRICE. (templated)
    :param mircate_conn_id: the id of a connection of type ``mircate``.
    """

    template_fields: Sequence[str] = ("mircate_conn_id", "attributes")
    template_fields_renderers = {"attributes": "json"}

    def __init__(self, *, attributes: list[Mapping[str, Any]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.attributes = attributes

    def execute(self, context: Context) -> dict[str, int]:
        if not isinstance(self.attributes, list) or not self.attributes:
            raise MircateConfigError(
                f"attributes must be a non-empty list of dicts, not {self.attributes!r}."
            )
        for index, attribute in enumerate(self.attributes):
            where = f"attributes[{index}]"
            if not isinstance(attribute, Mapping):
                raise MircateValidationError(f"{where} must be a dict, not {attribute!r}.")
            validate_code(attribute.get("code"), where)
            if attribute.get("type") not in ATTRIBUTE_TYPES:
                raise MircateValidationError(
                    f"{where} {attribute['code']!r} has an invalid type {attribute.get('type')!r}: use one of "
                    f"{sorted(ATTRIBUTE_TYPES)}."
                )
            validate_translations(attribute.get("label"), f"{where} label")
        self.hook.upsert_attributes(self.attributes)
        self.log.info("Upserted %d attribute(s)", len(self.attributes))
        return {"upserted": len(self.attributes)}


class MircateUpsertAttributeOptionsOperator(_MircateCatalogOperator):
    """
    Create or update the options of a SIMPLESELECT or MULTISELECT attribute with ``upsertAttributeOptions``.

    Returns ``{"attribute_code": code, "upserted": n}``.

    :param attribute_code: the code of the select attribute. (templated)
    :param options: option dicts ``{code, label: [{locale, value}]}``. (templated)
    :param mircate_conn_id: the id of a connection of type ``mircate``.
    """

    template_fields: Sequence[str] = ("mircate_conn_id", "attribute_code", "options")
    template_fields_renderers = {"options": "json"}

    def __init__(self, *, attribute_code: str, options: list[Mapping[str, Any]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.attribute_code = attribute_code
        self.options = options

    def execute(self, context: Context) -> dict[str, Any]:
        validate_code(self.attribute_code, "attribute_code")
        if not isinstance(self.options, list) or not self.options:
            raise MircateConfigError(f"options must be a non-empty list of dicts, not {self.options!r}.")
        for index, option in enumerate(self.options):
            where = f"options[{index}]"
            if not isinstance(option, Mapping):
                raise MircateValidationError(f"{where} must be a dict, not {option!r}.")
            validate_code(option.get("code"), where)
            validate_translations(option.get("label"), f"{where} label")
        self.hook.upsert_attribute_options(self.attribute_code, self.options)
        self.log.info("Upserted %d option(s) of attribute %r", len(self.options), self.attribute_code)
        return {"attribute_code": self.attribute_code, "upserted": len(self.options)}


class MircateDeleteAttributeOperator(_MircateCatalogOperator):
    """
    Delete one attribute with ``deleteAttribute``.

    Returns ``{"attribute_code": code, "deleted": bool}``; ``deleted`` is false when the attribute did
    not exist and ``ignore_missing`` is set.

    :param attribute_code: the attribute to delete. (templated)
    :param ignore_missing: succeed when the attribute does not exist (HTTP 404).
    :param mircate_conn_id: the id of a connection of type ``mircate``.
    """

    template_fields: Sequence[str] = ("mircate_conn_id", "attribute_code")

    def __init__(self, *, attribute_code: str, ignore_missing: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.attribute_code = attribute_code
        self.ignore_missing = ignore_missing

    def execute(self, context: Context) -> dict[str, Any]:
        validate_code(self.attribute_code, "attribute_code")
        try:
            self.hook.delete_attribute(self.attribute_code)
        except MircateNotFoundError:
            if not self.ignore_missing:
                raise
            self.log.info("Attribute %r does not exist; nothing to delete", self.attribute_code)
            return {"attribute_code": self.attribute_code, "deleted": False}
        self.log.info("Deleted attribute %r", self.attribute_code)
        return {"attribute_code": self.attribute_code, "deleted": True}


class MircateDeleteAttributeOptionOperator(_MircateCatalogOperator):
    """
    Delete one option of a select attribute with ``deleteAttributeOption``.

    Returns ``{"attribute_code", "option_code", "deleted": bool}``.

    :param attribute_code: the select attribute. (templated)
    :param option_code: the option to delete. (templated)
    :param ignore_missing: succeed when the option does not exist (HTTP 404).
    :param mircate_conn_id: the id of a connection of type ``mircate``.
    """

    template_fields: Sequence[str] = ("mircate_conn_id", "attribute_code", "option_code")

    def __init__(
        self, *, attribute_code: str, option_code: str, ignore_missing: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.attribute_code = attribute_code
        self.option_code = option_code
        self.ignore_missing = ignore_missing

    def execute(self, context: Context) -> dict[str, Any]:
        validate_code(self.attribute_code, "attribute_code")
        validate_code(self.option_code, "option_code")
        result = {"attribute_code": self.attribute_code, "option_code": self.option_code, "deleted": True}
        try:
            self.hook.delete_attribute_option(self.attribute_code, self.option_code)
        except MircateNotFoundError:
            if not self.ignore_missing:
                raise
            self.log.info(
                "Option %r of %r does not exist; nothing to delete", self.option_code, self.attribute_code
            )
            result["deleted"] = False
            return result
        self.log.info("Deleted option %r of attribute %r", self.option_code, self.attribute_code)
        return result


class MircateDeleteProductOperator(_MircateCatalogOperator):
    """
    Delete given products, or archive or delete the products that a source file no longer lists.

    With ``skus``, each product is deleted with ``deleteProduct``. With ``source``, every product in
    Mircate is read (through the sliced export) and each one whose key (sku, or code for product models)
    the source file lacks is archived or deleted. Archiving upserts the stored record with status
    ``ARCHIVED`` and keeps the rest of it. Products already ARCHIVED are left alone. When more than
    ``max_missing`` products would change, the operator fails before it changes any.

    Every key in the source must be a valid sku (1-255 characters of ``[A-Za-z0-9_]``, the rule of the
    product upsert), because a misspelled key such as ``K 4`` matches no product and would get the real
    ``K_4`` archived. An invalid key, or a source with no product, fails the task before it reads or
    changes anything in Mircate. CSV cells are stripped, as the product upsert strips them.

    Returns ``{"action", "affected", "not_found", "unchanged"}``: counts only, never the skus, so the
    XCom stays small.

    :param skus: the skus or model codes to delete. (templated)
    :param source: a JSON lines, JSON or CSV file of the products that should remain, an
        ``ObjectStoragePath`` or a URI. (templated)
    :param source_conn_id: the connection of the source's object store.
    :param source_format: ``jsonl``, ``json`` or ``csv``; from the file suffix when ``None``.
    :param missing_action: ``archive`` or ``delete``, for products missing from the source.
    :param max_missing: the most products the source mode may change; required with ``source``.
    :param allow_empty_source: accept a source with no product (an empty file, a CSV with only a
        header, or ``[]``), so that up to ``max_missing`` products are archived or deleted. When
        ``False``, such a source fails the task.
    :param filters: ``getProducts`` filters that limit which Mircate products the source is compared
        with, such as ``{"family": "shoes"}``. (templated)
    :param mircate_conn_id: the id of a connection of type ``mircate``.
    """

    template_fields: Sequence[str] = ("mircate_conn_id", "source_conn_id", "skus", "source", "filters")

    def __init__(
        self,
        *,
        skus: list[str] | None = None,
        source: Any = None,
        source_conn_id: str | None = None,
        source_format: str | None = None,
        missing_action: str = "archive",
        max_missing: int | None = None,
        allow_empty_source: bool = False,
        filters: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (skus is None) == (source is None):
            raise MircateConfigError(
                "Pass exactly one of skus (products to delete) and source (products to keep)."
            )
        if missing_action not in ("archive", "delete"):
            raise MircateConfigError(
                f"missing_action={missing_action!r} is invalid: use 'archive' or 'delete'."
            )
        if source is not None and (max_missing is None or isinstance(max_missing, bool) or max_missing < 0):
            raise MircateConfigError(
                f"max_missing={max_missing!r} is invalid: with source, give the most products that may be "
                f"{missing_action}d, an integer of at least 0, as a guard against a truncated source file."
            )
        self.skus = skus
        self.source = source
        self.source_conn_id = source_conn_id
        self.source_format = source_format
        self.missing_action = missing_action
        self.max_missing = max_missing
        self.allow_empty_source = allow_empty_source
        self.filters = filters

    def execute(self, context: Context) -> dict[str, Any]:
        if self.source is None:
            return self._delete_skus()
        return self._apply_source()

    def _delete_skus(self) -> dict[str, Any]:
        skus = [self.skus] if isinstance(self.skus, str) else self.skus
        if not isinstance(skus, list) or not all(isinstance(s, str) and s for s in skus):
            raise MircateConfigError(f"skus must be a list of non-empty strings, not {self.skus!r}.")
        deleted = not_found = 0
        for sku in dict.fromkeys(skus):
            try:
                self.hook.delete_product(sku)
                deleted += 1
            except MircateNotFoundError:
                self.log.info("Product %r does not exist; nothing to delete", sku)
                not_found += 1
        self.log.info("Deleted %d product(s); %d did not exist", deleted, not_found)
        return {"action": "delete", "affected": deleted, "not_found": not_found, "unchanged": 0}

    def _apply_source(self) -> dict[str, Any]:
        keep = self._source_keys()
        self.log.info("The source lists %d product(s) to keep", len(keep))
        limit = int(self.max_missing or 0)
        targets: list[dict[str, Any]] = []
        missing = unchanged = 0
        for record in self.hook.iter_products_sliced(filters=self.filters):
            key = product_key(record)
            if key is None or key in keep:
                continue
            if self.missing_action == "archive" and (record.get("data") or {}).get("status") == "ARCHIVED":
                unchanged += 1
                continue
            missing += 1
            if missing <= limit:
                targets.append(record)
        if missing > limit:
            raise MircateValidationError(
                f"{missing} product(s) in Mircate are missing from the source and would be "
                f"{self.missing_action}d, more than max_missing={limit}. Nothing was changed. Check the "
                "source file, or raise max_missing."
            )
        for record in targets:
            self._apply(record)
        self.log.info(
            "%s %d product(s) missing from the source", self.missing_action.capitalize() + "d", missing
        )
        return {"action": self.missing_action, "affected": missing, "not_found": 0, "unchanged": unchanged}

    def _apply(self, record: dict[str, Any]) -> None:
        key = str(product_key(record))
        if self.missing_action == "delete":
            self.hook.delete_product(key)
            return
        body: dict[str, Any] = {
            "dataType": record.get("dataType", "PRODUCT"),
            "data": {**record["data"], "status": "ARCHIVED"},
        }
        if record.get("parent") is not None:
            body["parent"] = record["parent"]
        self.hook.upsert_product(body)

    def _source_keys(self) -> set[str]:
        """
        Read the keys of the products to keep from the source.

        :raises MircateValidationError: on a row without a key, on invalid keys (listing up to 20 with
            their positions), and on a source with no product unless ``allow_empty_source`` is set.
        """
        from airflow_provider_mircate.utils.records import iter_rows, open_source

        keys: set[str] = set()
        invalid: list[str] = []
        invalid_count = 0
        with open_source(self.source, conn_id=self.source_conn_id, source_format=self.source_format) as local:
            # iter_rows rejects a blank file, but a blank JSON lines file is how an empty source is written.
            rows: Iterator[tuple[int, Any]] = iter(())
            if not _is_blank(local.path):
                rows = iter_rows(local.path, local.fmt, name=local.name)
            for position, row in rows:
                field, key = _source_key(row, local.fmt)
                if key is None:
                    raise MircateValidationError(
                        f"{local.name} {local.position_name} {position} has no sku or code: {str(row)[:200]}."
                    )
                if not is_valid_sku(key):
                    invalid_count += 1
                    if len(invalid) < MAX_LISTED_KEYS:
                        invalid.append(f"{local.position_name} {position}: {field} {key!r}")
                    continue
                keys.add(key)
        if invalid_count:
            more = f"\n  ... and {invalid_count - len(invalid)} more" if invalid_count > len(invalid) else ""
            raise MircateValidationError(
                f"{invalid_count} product key(s) in {local.name} are invalid: a sku or model code is 1-255 "
                "characters of A-Z, a-z, 0-9 and '_'. Nothing was changed, because an invalid key matches no "
                f"product and the product it was meant to keep would be {self.missing_action}d. Fix these "
                "keys:\n  " + "\n  ".join(invalid) + more
            )
        if not keys and not self.allow_empty_source:
            scope = f"that matches filters={self.filters!r}" if self.filters else "in Mircate"
            raise MircateValidationError(
                f"The source {local.name} lists no product, so every product {scope} would be "
                f"{self.missing_action}d. Nothing was changed. Check that the export wrote the file, or "
                f"pass allow_empty_source=True to {self.missing_action} them."
            )
        return keys


def _source_key(row: Any, fmt: str) -> tuple[str, str | None]:
    """Return the field name and the key of one source row: the sku, or the code of a product model."""
    if fmt != "csv":
        key = product_key(row)
        data = row.get("data")
        field = "code" if isinstance(data, Mapping) and not data.get("sku") and data.get("code") else "sku"
        return field, key
    sku = (row.get("sku") or "").strip()
    if sku:
        return "sku", sku
    code = (row.get("code") or "").strip()
    return "code", code or None


def _is_blank(path: Any) -> bool:
    """Return whether a file contains nothing but whitespace and a UTF-8 byte order mark."""
    with open(path, "rb") as handle:
        chunk = handle.read(64 * 1024).removeprefix(codecs.BOM_UTF8)
        while chunk:
            if chunk.strip():
                return False
            chunk = handle.read(64 * 1024)
    return True
