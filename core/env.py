"""Typed reads of environment variables, with one error policy: a bad value raises the
caller's error naming the variable, the value and what is expected.

Standard library only, and nothing else from core: the autoscaler's Lambda image
carries this module (and ``core/__init__.py``) without the rest of core.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

_TRUE, _FALSE = ("on", "true", "yes", "1"), ("off", "false", "no", "0")

#: What ``Reader.get`` returns for an unset variable when no default is given.
UNSET: Any = type("Unset", (), {"__repr__": lambda self: "UNSET"})()


@dataclass(frozen=True)
class Kind:
    """How one type of value is read from the environment and written back to it.

    ``parse`` takes the text and raises ``ValueError(what it expected)`` on a bad one.
    """

    parse: Callable[[str], Any]
    write: Callable[[Any], str] = str
    type: str = "str"
    # Text keeps its spaces (a password may have them); typed values lose them.
    strip: bool = True


def _text(raw: str) -> str:
    return raw


def _integer(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError("a whole number") from None


def _number(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    # nan passes every range check and inf overflows sleeps and timeouts.
    if not math.isfinite(value):
        raise ValueError("a number")
    return value


def _flag(raw: str) -> bool:
    if raw.lower() in _TRUE + _FALSE:
        return raw.lower() in _TRUE
    raise ValueError("on or off (true/false, yes/no and 1/0 also work)")


def split_names(raw: str) -> tuple[str, ...]:
    """``"a, b,,c"`` → ``("a", "b", "c")``: comma-separated, blanks dropped."""
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _mapping(raw: str) -> dict[str, str]:
    pairs = {}
    for part in split_names(raw):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError("key=value pairs separated by commas")
        pairs[key.strip()] = value.strip()
    return pairs


def _write_flag(value: bool) -> str:
    return "on" if value else "off"


def _write_mapping(value: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in value.items())


TEXT = Kind(_text, strip=False)
INTEGER = Kind(_integer, type="int")
NUMBER = Kind(_number, type="float")
FLAG = Kind(_flag, _write_flag, "bool")
NAMES = Kind(split_names, ",".join, "tuple[str, ...]")
MAPPING = Kind(_mapping, _write_mapping, "Mapping[str, str]")


def choice(*choices: str) -> Kind:
    """A kind that takes one of ``choices`` in any case and gives it as spelled there."""
    spelled = {c.lower(): c for c in choices}

    def parse(raw: str) -> str:
        if raw.lower() not in spelled:
            raise ValueError("one of: " + ", ".join(choices))
        return spelled[raw.lower()]
    return Kind(parse)


class Reader:
    """Typed reads from an environment mapping; a bad value raises ``error``."""

    def __init__(self, environ: Mapping[str, str], error: type[Exception]):
        self.environ = environ
        self.error = error

    def get(self, names: str | tuple[str, ...], kind: Kind = TEXT, default: Any = UNSET, *,
            low: float | None = None, high: float | None = None,
            keep_empty: bool = False) -> Any:
        """The first of ``names`` that is set, parsed, else ``default``.

        A blank value counts as unset unless ``keep_empty`` (an empty queue prefix is one).
        """
        for name in (names,) if isinstance(names, str) else names:
            raw = self.environ.get(name)
            if raw is None or (not raw.strip() and not keep_empty):
                continue
            return self.parse(name, raw, kind, low, high)
        return default

    def parse(self, name: str, raw: str, kind: Kind, low: float | None = None,
              high: float | None = None) -> Any:
        """``raw`` read as ``kind`` and checked against ``low`` and ``high``."""
        text = raw.strip() if kind.strip else raw
        try:
            value = kind.parse(text)
        except ValueError as expected:
            raise self.error(f"{name}={text!r} is not {expected}") from None
        if low is not None and value < low:
            raise self.error(f"{name}={text} is below the minimum of {low}")
        if high is not None and value > high:
            raise self.error(f"{name}={text} is above the maximum of {high}")
        return value
