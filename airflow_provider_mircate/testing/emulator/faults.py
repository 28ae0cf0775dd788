"""Fault injection for the Mircate emulator: latency, error statuses, broken connections, rate limits."""

from __future__ import annotations

import dataclasses
import math
import random
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

FAULT_KINDS = ("429", "429_retry_after", "500", "502", "503", "reset", "timeout", "truncate")
WHEN_CHOICES = ("before", "after", "both")


@dataclass(frozen=True)
class FaultSettings:
    """
    The fault knobs; change them with ``MircateEmulator.set_faults(**knobs)``.

    :param latency_ms: fixed delay added to every API request, milliseconds.
    :param latency_jitter_ms: random extra delay between 0 and this, milliseconds.
    :param rate: share of API requests (0 to 1) hit by one of ``kinds``.
    :param kinds: the faults to draw from: ``429``, ``429_retry_after``, ``500``, ``502``, ``503``,
        ``reset`` (close the connection without a response), ``timeout`` (stall for ``stall_seconds``,
        then close) and ``truncate`` (send the full Content-Length, half the body, then close).
    :param when: ``before`` the request changes state, ``after`` it did (the response is lost), or
        ``both`` (drawn at random for each fault).
    :param retry_after: seconds sent in ``Retry-After`` with ``429_retry_after``; whole numbers are sent
        as integers, fractions as decimals.
    :param retry_after_date: send ``Retry-After`` as an HTTP date instead of seconds.
    :param methods: method names that faults may hit; None means every method.
    :param rate_limit_rps: return 429 with ``Retry-After`` beyond this many API requests per second.
    :param fail_after: ``{"method", "count", "status"}``: once ``count`` calls of ``method`` changed
        state, every later call of it fails with ``status`` (default 500) without changing state.
    :param stall_seconds: how long the ``timeout`` fault stalls, seconds.
    :param fail_batches: share of bulk batches (0 to 1) that end FAILED with no item applied.
    """

    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    rate: float = 0.0
    kinds: tuple[str, ...] = ("500",)
    when: str = "before"
    retry_after: float = 1.0
    retry_after_date: bool = False
    methods: tuple[str, ...] | None = None
    rate_limit_rps: float | None = None
    fail_after: dict[str, Any] | None = field(default=None, hash=False)
    stall_seconds: float = 2.0
    fail_batches: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """Return the knobs as a JSON-ready dict, in the form ``set_faults`` accepts."""
        values = dataclasses.asdict(self)
        values["kinds"] = list(self.kinds)
        values["methods"] = None if self.methods is None else list(self.methods)
        return values


def validate_knobs(current: FaultSettings, knobs: dict[str, Any]) -> FaultSettings:
    """Return ``current`` with ``knobs`` applied; raise ``ValueError`` naming an unknown or invalid knob."""
    names = {f.name for f in dataclasses.fields(FaultSettings)}
    unknown = sorted(set(knobs) - names)
    if unknown:
        raise ValueError(f"Unknown fault knob(s) {unknown}; the knobs are {sorted(names)}.")
    values = dict(knobs)
    for key in ("latency_ms", "latency_jitter_ms", "retry_after", "stall_seconds"):
        if key in values:
            values[key] = _number(key, values[key], minimum=0.0)
    for key in ("rate", "fail_batches"):
        if key in values:
            values[key] = _number(key, values[key], minimum=0.0, maximum=1.0)
    if "kinds" in values:
        kinds = values["kinds"]
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not isinstance(kinds, (list, tuple)) or not kinds or any(k not in FAULT_KINDS for k in kinds):
            raise ValueError(
                f"Invalid fault knob kinds={knobs['kinds']!r}; use a list from {list(FAULT_KINDS)}."
            )
        values["kinds"] = tuple(str(k) for k in kinds)
    if "when" in values and values["when"] not in WHEN_CHOICES:
        raise ValueError(f"Invalid fault knob when={values['when']!r}; use one of {list(WHEN_CHOICES)}.")
    if "retry_after_date" in values:
        values["retry_after_date"] = bool(values["retry_after_date"])
    if values.get("methods") is not None:
        methods = values["methods"]
        methods = [methods] if isinstance(methods, str) else methods
        if not isinstance(methods, (list, tuple)) or not all(isinstance(m, str) for m in methods):
            raise ValueError(f"Invalid fault knob methods={knobs['methods']!r}; use a list of method names.")
        values["methods"] = tuple(methods)
    if values.get("rate_limit_rps") is not None:
        values["rate_limit_rps"] = _number("rate_limit_rps", values["rate_limit_rps"], minimum=0.0)
        if values["rate_limit_rps"] == 0:
            raise ValueError("Invalid fault knob rate_limit_rps=0; use a positive number or None.")
    if values.get("fail_after") is not None:
        values["fail_after"] = _fail_after(values["fail_after"])
    return dataclasses.replace(current, **values)


def _number(key: str, value: Any, *, minimum: float, maximum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"Invalid fault knob {key}={value!r}; expected a number.")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum:g} and {maximum:g}" if maximum is not None else f"at least {minimum:g}"
        raise ValueError(f"Invalid fault knob {key}={value!r}; it must be {bound}.")
    return float(value)


def _fail_after(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not isinstance(value.get("method"), str):
        raise ValueError(
            f"Invalid fault knob fail_after={value!r}; expected {{'method', 'count', 'status'}}."
        )
    count = value.get("count", 0)
    status = value.get("status", 500)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"Invalid fail_after count {count!r}; expected an integer >= 0.")
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        raise ValueError(f"Invalid fail_after status {status!r}; expected an HTTP error status 400-599.")
    return {"method": value["method"], "count": count, "status": status}


@dataclass(frozen=True)
class Fault:
    """One fault chosen for a request: its kind, and whether it strikes before or after the change."""

    kind: str
    when: str
    status: int | None = None
    retry_after: str | None = None


class FaultInjector:
    """Draw faults for requests from the current settings, deterministically for a given seed."""

    def __init__(self, seed: int = 0, settings: FaultSettings | None = None) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.settings = settings or FaultSettings()
        self._applied_counts: dict[str, int] = {}
        self._window_second = -1
        self._window_count = 0

    def set(self, **knobs: Any) -> FaultSettings:
        """Validate and apply knobs; the other knobs keep their values."""
        with self._lock:
            self.settings = validate_knobs(self.settings, knobs)
            return self.settings

    def reset_counters(self) -> None:
        """Forget the applied-call counts that ``fail_after`` counts against."""
        with self._lock:
            self._applied_counts.clear()

    def latency_seconds(self) -> float:
        """Return the delay for one request, seconds."""
        settings = self.settings
        if not settings.latency_ms and not settings.latency_jitter_ms:
            return 0.0
        with self._lock:
            jitter = self._rng.uniform(0.0, settings.latency_jitter_ms) if settings.latency_jitter_ms else 0.0
        return (settings.latency_ms + jitter) / 1000.0

    def record_applied(self, method: str) -> None:
        """Count one call of ``method`` that changed state."""
        with self._lock:
            self._applied_counts[method] = self._applied_counts.get(method, 0) + 1

    def draw(self, method: str) -> Fault | None:
        """Choose the fault for one API request, or None; the rate limit is counted here too."""
        settings = self.settings
        with self._lock:
            rule = settings.fail_after
            if rule and rule["method"] == method and self._applied_counts.get(method, 0) >= rule["count"]:
                return Fault("fail_after", "before", status=rule["status"])
            if settings.rate_limit_rps is not None:
                fault = self._rate_limit(settings.rate_limit_rps)
                if fault is not None:
                    return fault
            if not settings.rate or (settings.methods is not None and method not in settings.methods):
                return None
            if self._rng.random() >= settings.rate:
                return None
            kind = self._rng.choice(settings.kinds)
            when = settings.when if settings.when != "both" else self._rng.choice(("before", "after"))
        return self._describe(kind, when, settings)

    def draw_batch_failure(self) -> bool:
        """Decide whether a new bulk batch fails as a whole."""
        with self._lock:
            rate = self.settings.fail_batches
            return bool(rate) and self._rng.random() < rate

    def _rate_limit(self, rps: float) -> Fault | None:
        now = time.monotonic()
        second = int(now)
        if second != self._window_second:
            self._window_second = second
            self._window_count = 0
        self._window_count += 1
        if self._window_count <= rps:
            return None
        wait = max(0.001, second + 1 - now)
        return Fault("rate_limit", "before", status=429, retry_after=_seconds_text(wait))

    @staticmethod
    def _describe(kind: str, when: str, settings: FaultSettings) -> Fault:
        if kind == "429_retry_after":
            if settings.retry_after_date:
                retry_after = formatdate(time.time() + settings.retry_after, usegmt=True)
            else:
                retry_after = _seconds_text(settings.retry_after)
            return Fault(kind, when, status=429, retry_after=retry_after)
        if kind.isdigit():
            return Fault(kind, when, status=int(kind))
        return Fault(kind, when)


def _seconds_text(seconds: float) -> str:
    if float(seconds).is_integer():
        return str(int(seconds))
    return f"{seconds:.3f}".rstrip("0").rstrip(".")
