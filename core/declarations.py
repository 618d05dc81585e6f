"""Settings declared once, in a table, and everything derived from that table: the
fields of a settings class, reading them from the environment, writing them back,
and the Markdown table that documents them.

In the manner of Celery's ``celery/app/defaults.py``: each option is one entry.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

from core.env import TEXT, UNSET, Kind, Reader

HEADER = ("| variable | default | meaning |", "|---|---|---|")


@dataclass(frozen=True)
class Setting:
    """One environment variable: the attribute it fills, how it is read, and its docs."""

    attr: str | None  # None: read by other code (boto3, Celery), listed for the docs only
    env: str
    kind: Kind
    default: Any
    doc: str
    shown: str | None = None  # the default as the docs say it, when the value would mislead
    also: tuple[str, ...] = ()  # other names read when ``env`` is unset
    low: float | None = None
    high: float | None = None
    key: str | None = None  # fills ``attr[key]`` of a mapping attribute
    keep_empty: bool = False
    table: str = "main"


def listed(env: str, shown: str, doc: str, table: str = "main") -> Setting:
    """A variable other code reads, declared here so its table lists every variable."""
    return Setting(None, env, TEXT, None, doc, shown=shown, table=table)


def with_fields(settings: Iterable[Setting]):
    """Class decorator (under ``@dataclass``): one annotated attribute per declared one."""
    def decorate(cls):
        annotations = {}
        for attr, group in _by_attribute(settings).items():
            annotations[attr], default = _field(group)
            setattr(cls, attr, default)
        cls.__annotations__ = {**annotations, **cls.__dict__.get("__annotations__", {})}
        return cls
    return decorate


def _by_attribute(settings: Iterable[Setting]) -> dict[str, list[Setting]]:
    groups: dict[str, list[Setting]] = {}
    for setting in settings:
        if setting.attr is not None:
            groups.setdefault(setting.attr, []).append(setting)
    return groups


def _field(group: list[Setting]) -> tuple[str, Any]:
    first = group[0]
    if first.key is not None:
        defaults = {s.key: s.default for s in group}
        return f"Mapping[str, {first.kind.type}]", field(default_factory=lambda: dict(defaults))
    if isinstance(first.default, dict):
        return first.kind.type, field(default_factory=lambda: dict(first.default))
    optional = " | None" if first.default is None else ""
    return first.kind.type + optional, first.default


def read_env(settings: Iterable[Setting], environ: Mapping[str, str],
             error: type[Exception]) -> dict[str, Any]:
    """Keyword arguments for the settings class: only what the environment sets."""
    reader, values = Reader(environ, error), {}
    for s in settings:
        if s.attr is None:
            continue
        value = reader.get((s.env, *s.also), s.kind, low=s.low, high=s.high,
                           keep_empty=s.keep_empty)
        if s.key is not None:
            values.setdefault(s.attr, {})[s.key] = s.default if value is UNSET else value
        elif value is not UNSET:
            values[s.attr] = value
    return values


def write_env(settings: Iterable[Setting], obj: Any) -> dict[str, str]:
    """The variables that rebuild ``obj`` from the environment (unset ones left out)."""
    env = {}
    for s in settings:
        if s.attr is None:
            continue
        value = getattr(obj, s.attr)
        value = value[s.key] if s.key is not None else value
        if value is not None:
            env[s.env] = s.kind.write(value)
    return env


def markdown(settings: Iterable[Setting], table: str = "main") -> list[str]:
    """The lines of the docs' table: a row per run of settings that share a description."""
    rows: list[list[Setting]] = []
    for s in settings:
        if s.table != table:
            continue
        if rows and rows[-1][0].doc == s.doc:
            rows[-1].append(s)
        else:
            rows.append([s])
    return [*HEADER, *(_row(group) for group in rows)]


def _row(group: list[Setting]) -> str:
    names = ", ".join(f"`{s.env}`" + "".join(f" (or `{a}`)" for a in s.also) for s in group)
    defaults = ", ".join(dict.fromkeys(_shown(s) for s in group))
    return f"| {names} | {defaults} | {group[0].doc} |"


def _shown(s: Setting) -> str:
    if s.shown is not None:
        return s.shown
    if s.default in (None, (), {}):
        return "—"
    if isinstance(s.default, float):
        return f"`{s.default:g}`"
    return f"`{s.kind.write(s.default)}`"


def tables(text: str, heading: str) -> Iterator[tuple[int, int]]:
    """Line spans ``(start, end)`` of the Markdown tables in the section ``heading``."""
    lines = text.splitlines()
    start = lines.index(heading) + 1
    index = start
    while index < len(lines) and not lines[index].startswith("## "):
        if lines[index].startswith("|"):
            end = index
            while end < len(lines) and lines[end].startswith("|"):
                end += 1
            yield index, end
            index = end
        index += 1


def replace_table(text: str, heading: str, table: list[str]) -> str:
    """``text`` with the first table of section ``heading`` replaced by ``table``."""
    lines = text.splitlines(keepends=True)
    start, end = next(tables(text, heading))
    return "".join(lines[:start] + [line + "\n" for line in table] + lines[end:])
