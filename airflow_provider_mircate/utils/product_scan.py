"""
The validation pass of a product upsert: check every record, find duplicate keys, write rejects.

The pass streams the input once. Besides a bounded list of problems it keeps one dict entry per
distinct sku (or model code) and one set entry per skipped record, so memory grows with the number of
products but not with their size.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import IO, Any

from airflow_provider_mircate.utils.attributes import AttributeCatalog
from airflow_provider_mircate.utils.validation import Problem, record_key, record_sku, validate_product

MAX_LISTED_PROBLEMS = 20
ON_DUPLICATE = ("fail", "last_wins")


class DuplicateKeys:
    """
    Positions of the keys seen so far in one pass, for ``on_duplicate``.

    With ``fail`` a key keeps its first position, so every repeat is reported against the first record.
    With ``last_wins`` a key moves to its latest record and each earlier position goes to ``superseded``.
    Memory is one dict entry per distinct key plus one set entry per superseded record.
    """

    def __init__(self, on_duplicate: str) -> None:
        self.last_wins = on_duplicate == "last_wins"
        self.superseded: set[int] = set()
        self._positions: dict[Hashable, int] = {}

    def add(self, key: Hashable, position: int) -> int | None:
        """Record ``key`` at ``position`` and return the position of an earlier record with it, or ``None``."""
        earlier = self._positions.get(key)
        if earlier is None or self.last_wins:
            self._positions[key] = position
        if earlier is not None and self.last_wins:
            self.superseded.add(earlier)
        return earlier


@dataclass
class ScanResult:
    """
    What the validation pass found.

    ``skip`` contains the positions the sending pass leaves out: rejected records when invalid records
    are skipped, and earlier duplicates when the last record of a key wins. ``fingerprint`` is a hash
    over every record read and the skipped positions, so it changes whenever the sent data would.
    """

    total: int = 0
    rejected: int = 0
    superseded: int = 0
    problem_count: int = 0
    problems: list[Problem] = field(default_factory=list)
    skip: set[int] = field(default_factory=set)
    fingerprint: str = ""

    @property
    def valid(self) -> int:
        """The number of records the sending pass sends."""
        return self.total - self.rejected - self.superseded


class ProductScanner:
    """
    Run the validation pass over ``(position, record)`` pairs.

    :param on_invalid: ``fail`` keeps every problem for the error message; ``skip`` marks the invalid
        records to be left out.
    :param on_duplicate: ``fail`` treats a repeated sku (or model code) as a problem of the later record;
        ``last_wins`` sends only the last record of each key.
    :param catalog: returns the attribute catalog; called only for records that have attributes.
    :param position_name: ``line``, ``index`` or ``item``, for messages.
    :param rejects: an open text file that receives one JSON line per rejected record, or ``None``.
    """

    def __init__(
        self,
        *,
        on_invalid: str,
        on_duplicate: str,
        catalog: Callable[[], AttributeCatalog | None],
        position_name: str,
        rejects: IO[str] | None = None,
    ) -> None:
        self.on_invalid = on_invalid
        self.on_duplicate = on_duplicate
        self.catalog = catalog
        self.position_name = position_name
        self.rejects = rejects
        self.result = ScanResult()
        self._digest = hashlib.sha256()
        self._duplicates = DuplicateKeys(on_duplicate)

    def scan(self, rows: Iterable[tuple[int, Any]]) -> ScanResult:
        """Validate every row and return the result; the fingerprint is set when the rows run out."""
        for position, record in rows:
            self._scan_one(position, record)
        self._digest.update(json.dumps(sorted(self.result.skip)).encode())
        self._digest.update(f"{self.on_invalid}/{self.on_duplicate}".encode())
        self.result.fingerprint = self._digest.hexdigest()
        return self.result

    def _scan_one(self, position: int, record: Any) -> None:
        self.result.total += 1
        self._digest.update(json.dumps(record, sort_keys=True, default=str).encode())
        self._digest.update(b"\n")
        has_attributes = isinstance(record, dict) and bool((record.get("data") or {}).get("attributes"))
        problems = validate_product(record, position, self.catalog() if has_attributes else None)
        if not problems:
            problems = self._check_duplicate(position, record)
        if problems:
            self._reject(position, record, problems)

    def _check_duplicate(self, position: int, record: Any) -> list[Problem]:
        key = record_key(record)
        if key is None:
            return []
        earlier = self._duplicates.add(key, position)
        if earlier is None:
            return []
        if self._duplicates.last_wins:
            self.result.skip.add(earlier)
            self.result.superseded += 1
            return []
        kind, value = key
        where = self.position_name
        message = (
            f"{kind} {value!r} appears on {where} {earlier} and again on {where} {position}; keep one record "
            "per key, or set on_duplicate='last_wins' to send the last one."
        )
        return [Problem(position=position, sku=record_sku(record), field=f"data.{kind}", message=message)]

    def _reject(self, position: int, record: Any, problems: list[Problem]) -> None:
        result = self.result
        result.rejected += 1
        result.problem_count += len(problems)
        room = MAX_LISTED_PROBLEMS - len(result.problems)
        if room > 0:
            result.problems.extend(problems[:room])
        if self.on_invalid == "skip":
            result.skip.add(position)
        if self.rejects is not None:
            line = {
                self.position_name: position,
                "sku": record_sku(record),
                "errors": [{"field": p["field"], "message": p["message"]} for p in problems],
                "record": record,
            }
            self.rejects.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")


def describe_problems(result: ScanResult, position_name: str, source: str) -> str:
    """Return the error message for a failed validation pass: up to 20 problems and the totals."""
    lines = [
        f"{result.rejected} of {result.total} product records in {source} are invalid "
        f"({result.problem_count} problem(s)); nothing was sent. Fix them, or set on_invalid='skip' with "
        "rejects_path to send the valid ones."
    ]
    for problem in result.problems:
        sku = f" sku {problem['sku']!r}" if problem["sku"] else ""
        lines.append(
            f"  {position_name} {problem['position']}{sku}, {problem['field'] or 'record'}: {problem['message']}"
        )
    if result.problem_count > len(result.problems):
        lines.append(f"  ... and {result.problem_count - len(result.problems)} more problem(s).")
    return "\n".join(lines)
