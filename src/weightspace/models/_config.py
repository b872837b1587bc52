"""Validation helpers shared by the model configs: every problem is one `ConfigError` line."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

from ..errors import ConfigError

__all__ = ["COMMON", "Fields", "hidden_widths", "is_int"]

_REQUIRED = object()
COMMON = ("name", "input_shape", "num_outputs")


def is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


class Fields:
    """Read one model's raw config: unknown keys are refused up front, every read is checked.

    Each reader returns a plain JSON-able value (int, float, bool, str, list); `fail` raises
    `ConfigError("<model> config: <message>")`.
    """

    def __init__(self, model: str, config: Mapping[str, Any], keys: Iterable[str]):
        self.model = model
        self.config = config
        self.keys = tuple(keys)
        unknown = sorted(str(k) for k in config if k not in self.keys)
        if unknown:
            self.fail(f"unknown key(s) {', '.join(map(repr, unknown))}; expected keys among {', '.join(self.keys)}")

    def fail(self, message: str) -> NoReturn:
        raise ConfigError(f"{self.model} config: {message}")

    def has(self, key: str) -> bool:
        return key in self.config

    def _get(self, key: str, default: Any) -> Any:
        if key in self.config:
            return self.config[key]
        if default is _REQUIRED:
            self.fail(f"missing required key `{key}`")
        return default

    def int(self, key: str, default: Any = _REQUIRED, *, minimum: int = 1) -> int:
        v = self._get(key, default)
        if not is_int(v) or v < minimum:
            self.fail(f"`{key}` must be an int >= {minimum}, got {v!r}")
        return int(v)

    def number(self, key: str, default: Any = _REQUIRED) -> int | float:
        """A finite positive int or float (e.g. a width multiplier)."""
        v = self._get(key, default)
        if not _is_number(v) or v <= 0:
            self.fail(f"`{key}` must be a positive number, got {v!r}")
        return int(v) if is_int(v) else float(v)

    def bool(self, key: str, default: Any = _REQUIRED) -> bool:
        v = self._get(key, default)
        if not isinstance(v, bool):
            self.fail(f"`{key}` must be true or false, got {v!r}")
        return v

    def choice(self, key: str, choices: Iterable[str], default: Any = _REQUIRED) -> str:
        choices = tuple(choices)
        v = self._get(key, default)
        if not isinstance(v, str) or v not in choices:
            self.fail(f"`{key}` must be one of {', '.join(choices)}, got {v!r}")
        return v

    def int_list(self, key: str, default: Any = _REQUIRED, *, minimum: int = 1) -> list[int]:
        v = self._get(key, default)
        if not isinstance(v, list | tuple) or not all(is_int(w) and w >= minimum for w in v):
            self.fail(f"`{key}` must be a list of ints >= {minimum}, got {v!r}")
        return [int(w) for w in v]

    def shape(self, key: str = "input_shape", *, ndim: int | None = None) -> list[int]:
        """A per-sample shape: a non-empty list of positive ints (of length `ndim` if given)."""
        v = self._get(key, _REQUIRED)
        ok = isinstance(v, list | tuple) and len(v) > 0 and all(is_int(s) and s >= 1 for s in v)
        if not ok or (ndim is not None and len(v) != ndim):
            what = f"{ndim} positive ints" if ndim is not None else "a non-empty list of positive ints"
            self.fail(f"`{key}` must be {what}, got {v!r}")
        return [int(s) for s in v]


def hidden_widths(f: Fields) -> list[int]:
    """`widths`, or `depth` hidden layers of `width` units each (depth 2, width 512 -> [512, 512])."""
    if f.has("widths"):
        if f.has("depth") or f.has("width"):
            f.fail("give either `widths` or `depth` + `width`, not both")
        return f.int_list("widths")
    if f.has("depth") or f.has("width"):
        if not (f.has("depth") and f.has("width")):
            f.fail("`depth` and `width` must be given together (or give `widths`)")
        return [f.int("width")] * f.int("depth", minimum=0)
    f.fail("missing the hidden layers: give `widths` (a list of ints) or `depth` + `width`")
