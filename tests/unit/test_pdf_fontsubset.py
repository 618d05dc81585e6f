"""Compact font subsets: a one-page Japanese statement far under WeasyPrint's stock
size, drawn exactly as stock draws it, with text that still reads back."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from fontTools.fontBuilder import FontBuilder
from fontTools.pens.t2CharStringPen import T2CharStringPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont

from tasks.pdf import samples
from tasks.pdf.fontsubset import cids_kept, compact_fonts
from tasks.pdf.render import Renderer

STOCK_FLOOR = 150_000  # WeasyPrint alone: ~250 KB; compact: ~30 KB


@pytest.fixture(scope="module")
def pdfs():
    compact = Renderer().render("statement", samples.STATEMENT)
    stock = Renderer(pdf_options={"finisher": None}).render("statement", samples.STATEMENT)
    return compact, stock


def pdftotext(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True,
                          check=True).stdout.decode()


def raster(pdf: bytes, tmp_path: Path) -> bytes:
    """The page as a greyscale PGM image drawn by poppler."""
    path = tmp_path / "page.pdf"
    path.write_bytes(pdf)
    image = subprocess.run(["pdftoppm", "-r", "40", "-gray", str(path)], capture_output=True,
                           check=True).stdout
    assert image.startswith(b"P5")
    return image


def font_types(pdf: bytes, tmp_path: Path) -> list[str]:
    path = tmp_path / "fonts.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdffonts", str(path)], capture_output=True, check=True, text=True)
    return [line[37:54].strip() for line in out.stdout.splitlines()[2:]]


def test_the_statement_is_well_under_the_stock_size_and_reads_back(pdfs, tmp_path):
    compact, stock = pdfs
    assert len(stock) > STOCK_FLOOR > len(compact)
    text = pdftotext(compact)
    assert "請求書" in text and "ウェブサイト保守（11月分）" in text and "ページ 1 / 1" in text


def test_the_statement_embeds_bare_cff_subsets(pdfs, tmp_path):
    assert font_types(pdfs[0], tmp_path) == ["CID Type 0C", "CID Type 0C"]
    assert font_types(pdfs[1], tmp_path) == ["CID Type 0C (OT)", "CID Type 0C (OT)"]


def test_compact_subsets_draw_the_same_page_as_stock(pdfs, tmp_path):
    compact, stock = (raster(pdf, tmp_path) for pdf in pdfs)
    assert compact == stock


def probe_font(path: Path, truetype: bool) -> None:
    """A one-glyph font ("A", a square), TrueType or name-keyed CFF."""
    def square(pen):
        pen.moveTo((100, 0))
        pen.lineTo((100, 700))
        pen.lineTo((500, 700))
        pen.lineTo((500, 0))
        pen.closePath()
        return pen

    order = [".notdef", "A"]
    builder = FontBuilder(1000, isTTF=truetype)
    builder.setupGlyphOrder(order)
    builder.setupCharacterMap({ord("A"): "A"})
    if truetype:
        builder.setupGlyf({name: square(TTGlyphPen(None)).glyph() for name in order})
    else:
        builder.setupCFF("ProbeSans", {"FullName": "ProbeSans"},
                         {name: square(T2CharStringPen(600, None)).getCharString()
                          for name in order}, {})
    builder.setupHorizontalMetrics({name: (600, 100) for name in order})
    builder.setupHorizontalHeader(ascent=800, descent=-200)
    builder.setupNameTable({"familyName": "ProbeSans", "styleName": "Regular"})
    builder.setupOS2()
    builder.setupPost()
    builder.save(str(path))


@pytest.mark.parametrize("truetype, kind", [(True, "CID TrueType"), (False, "CID Type 0C (OT)")])
def test_fonts_that_are_not_cid_keyed_cff_keep_weasyprints_subset(tmp_path, truetype, kind):
    folder = tmp_path / "templates" / "probe"
    folder.mkdir(parents=True)
    probe_font(folder / "probe.otf", truetype)
    (folder / "template.html").write_text(
        "<style>@font-face { font-family: Probe; src: url(probe.otf) }"
        "p { font-family: Probe }</style><p>AAA</p>")
    pdf = Renderer(root=tmp_path / "templates").render("probe", {})
    assert font_types(pdf, tmp_path) == [kind]
    assert "AAA" in pdftotext(pdf)


def test_a_name_keyed_cff_is_not_taken_for_cids(tmp_path):
    probe_font(tmp_path / "probe.otf", truetype=False)
    cff = TTFont(tmp_path / "probe.otf").reader["CFF "]
    assert not cids_kept(cff, [0, 1])


def test_a_cff_missing_a_drawn_cid_is_refused():
    cff = statement_cff()
    assert cids_kept(cff, [0, 13])
    assert not cids_kept(cff, [0, 13, 65_000])


def statement_cff() -> bytes:
    """The regular-weight CFF the renderer embeds for the statement."""
    captured = []

    def capture(document, pdf):
        compact_fonts(document, pdf)
        captured.extend(obj.stream[0] for obj in pdf.objects
                        if getattr(obj, "extra", {}).get("Subtype") == "/CIDFontType0C")

    Renderer(pdf_options={"finisher": capture}).render("statement", samples.STATEMENT)
    assert captured
    return captured[-1]
