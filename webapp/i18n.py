"""Japanese and English UI text.

Templates write English and pass it through ``_()``; the JSON files in
``translations/ja/`` map each English text to its Japanese (one file per part
of the app; they are merged). The language comes from ``?lang=``
(remembered in a cookie), else the browser's Accept-Language, else English.
A text missing from the catalog shows in English rather than failing.
"""
from __future__ import annotations

import json
from pathlib import Path

from flask import g, request

LANGUAGES = ("en", "ja")
COOKIE = "lang"
_CATALOGS: dict[str, dict[str, str]] = {}


def catalog(lang: str) -> dict[str, str]:
    """The translations into ``lang`` (empty for English)."""
    if lang not in _CATALOGS:
        merged: dict[str, str] = {}
        for path in sorted((Path(__file__).parent / "translations" / lang).glob("*.json")):
            merged.update(json.loads(path.read_text("utf-8")))
        _CATALOGS[lang] = merged
    return _CATALOGS[lang]


def translate(text: str, lang: str, **values) -> str:
    """``text`` in ``lang``, with ``{name}`` fields filled from ``values``."""
    out = catalog(lang).get(text, text) if lang != "en" else text
    return out.format(**values) if values else out


def choose(arg: str | None, cookie: str | None, accept) -> str:
    """The language of a request: explicit choice, remembered choice, browser's wish."""
    for wanted in (arg, cookie):
        if wanted in LANGUAGES:
            return wanted
    return accept.best_match(LANGUAGES, default="en") if accept else "en"


def current() -> str:
    if "lang" not in g:
        g.lang = choose(request.args.get("lang"), request.cookies.get(COOKIE),
                        request.accept_languages)
    return g.lang


def gettext(text: str, **values) -> str:
    return translate(text, current(), **values)


def texts(*keys: str) -> dict[str, str]:
    """Texts a page's script shows, translated: embedded in the page as JSON."""
    return {key: gettext(key) for key in keys}


def init_app(app) -> None:
    app.jinja_env.globals.update(_=gettext, languages=LANGUAGES, texts=texts)
    app.context_processor(lambda: {"lang": current()})

    @app.after_request
    def remember(response):
        arg = request.args.get("lang")
        if arg in LANGUAGES and request.cookies.get(COOKIE) != arg:
            response.set_cookie(COOKIE, arg, max_age=365 * 86400, samesite="Lax", httponly=True)
        return response
