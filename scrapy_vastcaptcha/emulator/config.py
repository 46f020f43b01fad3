"""Emulator settings: defaults, validation and merging of partial updates.

Settings arrive from three places (Python callers, CLI flags, the JSON control
API), so every update goes through :meth:`EmulatorConfig.merged`, which checks
names and types once and reports the offending key in its message.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, Literal

API_METHODS: tuple[str, ...] = ("createTask", "getTaskResult", "getBalance")
FAULT_NAMES: tuple[str, ...] = (
    "http_5xx",
    "malformed",
    "drop",
    "slow",
    "unsolvable",
    "proxy_failure",
)
ERROR_STYLES: tuple[str, ...] = ("nested", "flat")

ErrorStyle = Literal["nested", "flat"]


class ConfigError(ValueError):
    """A setting has an unknown name or a value of the wrong type or range."""


def _number(key: str, value: object, *, minimum: float = 0.0) -> float:
    # bool is an int subclass, but `true` is never a sensible duration or price
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < minimum:
        raise ConfigError(f"{key} must be a finite number >= {minimum}, got {value!r}")
    return number


def _solve_time(value: object) -> tuple[float, float]:
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise ConfigError(f"solve_time must be a number or [min, max], got {value!r}")
        low = _number("solve_time[0]", value[0])
        high = _number("solve_time[1]", value[1])
    else:
        low = high = _number("solve_time", value)
    if high < low:
        raise ConfigError(f"solve_time max {high} is below min {low}")
    return (low, high)


def _faults(current: Mapping[str, float], value: object) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"faults must be an object of name -> rate, got {value!r}")
    merged = dict(current)
    for name, rate in value.items():
        if name not in FAULT_NAMES:
            raise ConfigError(f"unknown fault {name!r}; known faults: {', '.join(FAULT_NAMES)}")
        number = _number(f"faults.{name}", rate)
        if number > 1.0:
            raise ConfigError(f"faults.{name} must be a rate between 0 and 1, got {rate!r}")
        merged[name] = number
    return merged


def _fault_methods(value: object) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(m, str) for m in value):
        raise ConfigError(f"fault_methods must be a list of method names, got {value!r}")
    unknown = [m for m in value if m not in API_METHODS]
    if unknown:
        raise ConfigError(
            f"fault_methods has unknown method(s) {unknown}; known: {', '.join(API_METHODS)}"
        )
    return tuple(value)


def _seed(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"seed must be an integer or null, got {value!r}")
    return value


def _error_style(value: object) -> ErrorStyle:
    if value == "nested":
        return "nested"
    if value == "flat":
        return "flat"
    raise ConfigError(f"error_style must be one of {', '.join(ERROR_STYLES)}, got {value!r}")


def _capacity(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"capacity must be a non-negative integer, got {value!r}")
    return value


def _default_faults() -> dict[str, float]:
    return dict.fromkeys(FAULT_NAMES, 0.0)


@dataclasses.dataclass(frozen=True)
class EmulatorConfig:
    """All tunable behaviour of the emulator.

    Times are in seconds, prices in USD. ``faults`` maps each fault name in
    :data:`FAULT_NAMES` to a probability 0..1; transport faults (``http_5xx``,
    ``malformed``, ``drop``, ``slow``) hit only the methods in ``fault_methods``;
    task faults fail a task when it is due: ``unsolvable`` any task,
    ``proxy_failure`` a task that carries a ``proxy``.
    """

    solve_time: tuple[float, float] = (5.0, 30.0)
    capacity: int = 1_000_000
    task_ttl: float = 300.0
    default_balance: float = 10.0
    token_price: float = 0.002
    image_price: float = 0.001
    error_style: ErrorStyle = "nested"
    faults: Mapping[str, float] = dataclasses.field(default_factory=_default_faults)
    fault_methods: tuple[str, ...] = API_METHODS
    slow_delay: float = 20.0
    token_ttl: float = 120.0
    turnstile_token_ttl: float = 300.0
    seed: int | None = None

    def merged(self, updates: Mapping[str, Any]) -> EmulatorConfig:
        """Return a copy with ``updates`` applied; raise :class:`ConfigError` if any is bad.

        ``faults`` is merged fault by fault, so ``{"faults": {"drop": 0.1}}``
        leaves the other fault rates as they were.
        """
        known = {field.name for field in dataclasses.fields(self)}
        unknown = sorted(set(updates) - known)
        if unknown:
            raise ConfigError(
                f"unknown setting(s) {', '.join(unknown)}; "
                f"known settings: {', '.join(sorted(known))}"
            )
        changes: dict[str, Any] = {}
        for key, value in updates.items():
            if key == "solve_time":
                changes[key] = _solve_time(value)
            elif key == "faults":
                changes[key] = _faults(self.faults, value)
            elif key == "fault_methods":
                changes[key] = _fault_methods(value)
            elif key == "seed":
                changes[key] = _seed(value)
            elif key == "error_style":
                changes[key] = _error_style(value)
            elif key == "capacity":
                changes[key] = _capacity(value)
            else:
                changes[key] = _number(key, value)
        return dataclasses.replace(self, **changes)

    def fault_rate(self, name: str) -> float:
        """Probability of fault ``name`` (0 when never configured)."""
        return self.faults.get(name, 0.0)

    def to_json(self) -> dict[str, Any]:
        """The settings as a JSON-ready object, in the shape :meth:`merged` accepts."""
        data = dataclasses.asdict(self)
        data["solve_time"] = list(self.solve_time)
        data["faults"] = dict(self.faults)
        data["fault_methods"] = list(self.fault_methods)
        return data
