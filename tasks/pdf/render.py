"""Jinja2 + WeasyPrint, kept warm: one ``Renderer`` per process renders many documents.

A fresh process pays ~1 s for imports and fonts before its first page; a warm
one renders a one-page Japanese statement in ~0.3 s. So a worker builds one
``Renderer`` and reuses it (its Jinja environment, template cache, fetchers
and font configuration) for every document it renders.
"""
from __future__ import annotations

import json
import re
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Mapping

from jinja2 import (Environment, FileSystemLoader, StrictUndefined, TemplateNotFound as
                    JinjaNotFound, TemplateSyntaxError, UndefinedError, meta)
from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import FatalURLFetchingError

from core.pdfbatch import JSON_SUFFIX
from tasks.pdf.errors import DocumentError, MissingVariable, TemplateNotFound
from tasks.pdf.fetcher import BundledAssetFetcher
from tasks.pdf.fontsubset import compact_fonts

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
ENTRY = "template.html"
_UNDEFINED = (re.compile(r"'([^']+)' is undefined"),
              re.compile(r"has no attribute '([^']+)'"))


def number(value: Any) -> Decimal:
    """A template's number from data that may be a string (CSV) or a JSON number."""
    try:
        return Decimal(str(value).replace(",", "").strip())
    except (InvalidOperation, ValueError):
        raise DocumentError(f"{value!r} is not a number") from None


def yen(value: Any) -> str:
    """¥1,234 (rounded to whole yen)."""
    return f"¥{number(value).quantize(Decimal(1)):,}"


def expand_json_fields(data: Mapping[str, Any]) -> dict:
    """Fields named ``x_json`` (flat sources such as CSV) become ``x``, parsed."""
    out = {}
    for key, value in data.items():
        if key.endswith(JSON_SUFFIX) and isinstance(value, str):
            try:
                out[key[:-len(JSON_SUFFIX)]] = json.loads(value) if value.strip() else None
            except ValueError:
                raise DocumentError(f"field {key!r} is not valid JSON") from None
        else:
            out[key] = value
    return out


class Renderer:
    """Renders a named template with one recipient's data to PDF bytes."""

    def __init__(self, root: Path = TEMPLATES_DIR, pdf_options: Mapping | None = None):
        self.root = root.resolve()
        self.jinja = Environment(loader=FileSystemLoader(self.root), autoescape=True,
                                 undefined=StrictUndefined, auto_reload=False)
        self.jinja.filters.update(num=number, yen=yen)
        self.fonts = FontConfiguration()
        self.pdf_options = {"finisher": compact_fonts, **(pdf_options or {})}
        self._fetchers: dict[str, BundledAssetFetcher] = {}

    def names(self) -> list[str]:
        """The templates this renderer can use."""
        return sorted(p.parent.name for p in self.root.glob(f"*/{ENTRY}"))

    def html(self, template: str, data: Mapping[str, Any]) -> str:
        """The template filled with ``data``; a missing variable is an error naming it."""
        self._folder(template)
        with _template_errors(template):
            try:
                return self.jinja.get_template(f"{template}/{ENTRY}").render(
                    expand_json_fields(data))
            except UndefinedError as exc:
                raise MissingVariable(template, _undefined_name(str(exc))) from None

    def variables(self, template: str) -> frozenset[str] | None:
        """The names ``template`` (and what it includes) may read from a recipient's data;
        None when it includes a template chosen at render time, so any name may be read."""
        self._folder(template)
        names: set[str] = set()
        seen, todo = set(), [f"{template}/{ENTRY}"]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            with _template_errors(template):
                tree = self.jinja.parse(self.jinja.loader.get_source(self.jinja, name)[0])
            names |= meta.find_undeclared_variables(tree)
            included = list(meta.find_referenced_templates(tree))
            if None in included:
                return None
            todo.extend(included)
        return frozenset(names - set(self.jinja.globals))

    def render(self, template: str, data: Mapping[str, Any]) -> bytes:
        """PDF bytes of ``template`` with ``data``, fonts embedded as compact subsets."""
        source = self.html(template, data)
        folder = self._folder(template)
        fetcher = self._fetchers.setdefault(template, BundledAssetFetcher(folder))
        try:
            document = HTML(string=source, base_url=folder.as_uri() + "/",
                            url_fetcher=fetcher).render(font_config=self.fonts)
        except FatalURLFetchingError as exc:
            cause = exc.__cause__
            if isinstance(cause, DocumentError):
                raise cause from None
            raise DocumentError(f"template {template!r}: {exc} ({cause})") from None
        return document.write_pdf(**self.pdf_options)

    def _folder(self, template: str) -> Path:
        folder = (self.root / template).resolve()
        if (not isinstance(template, str) or folder.parent != self.root
                or not (folder / ENTRY).is_file()):
            raise TemplateNotFound(f"no template {template!r}; templates: "
                                   f"{', '.join(self.names())}")
        return folder


@contextmanager
def _template_errors(template: str):
    """A broken template (a missing include, bad syntax) as an error naming it."""
    try:
        yield
    except JinjaNotFound as exc:
        raise TemplateNotFound(f"template {template!r} includes {exc.name!r}, "
                               "which does not exist") from None
    except TemplateSyntaxError as exc:
        raise DocumentError(f"template {template!r} line {exc.lineno}: {exc.message}") \
            from None


def _undefined_name(message: str) -> str:
    for pattern in _UNDEFINED:
        if match := pattern.search(message):
            return match.group(1)
    return message
