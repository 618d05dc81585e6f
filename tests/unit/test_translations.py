"""Every English text the pages show has its Japanese in webapp/translations/ja/."""
from __future__ import annotations

import re
from pathlib import Path

from webapp.i18n import catalog
from webapp.views import KIND_LABELS, NAV

ROOT = Path(__file__).resolve().parents[2] / "webapp"
# _("text"), texts("a", "b", ...) in templates; _("text") in the view modules.
_CALL = re.compile(r'(?<![\w.])_\(\s*"((?:[^"\\]|\\.)*)"')
_TEXTS = re.compile(r'texts\(([^)]*)\)')
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _english_texts() -> set[str]:
    found = set(KIND_LABELS.values()) | {label for _, label, _ in NAV}
    sources = list((ROOT / "templates").rglob("*.html")) + list((ROOT / "views").glob("*.py"))
    for path in sources:
        source = path.read_text("utf-8")
        found |= set(_CALL.findall(source))
        for args in _TEXTS.findall(source):
            found |= set(_STRING.findall(args))
    return found


def test_every_page_text_has_a_japanese_translation():
    missing = sorted(_english_texts() - set(catalog("ja")))
    assert not missing, f"add these to webapp/translations/ja/pages.json: {missing}"


def test_translations_keep_the_fields_they_fill_in():
    field = re.compile(r"\{(\w+)\}")
    for english, japanese in catalog("ja").items():
        assert set(field.findall(english)) == set(field.findall(japanese)), english
