"""Compact CJK font subsets: a WeasyPrint finisher that re-embeds CID-keyed CFF fonts.

WeasyPrint's HarfBuzz subsetter keeps the font's glyph numbering (retain-gids),
because its content streams draw glyph ids as CIDs through ``Identity-H``. For
Noto Sans CJK the used kanji sit at glyph ids up to ~63,000, so each embedded
subset still carries an (empty) entry for every glyph below them: ~120 KB per
font, ~250 KB for a one-page statement.

In a CID-keyed CFF font the glyph order and the CIDs are separate: the charset
maps each glyph to its CID, and HarfBuzz keeps the original CIDs when it
renumbers glyphs. Noto Sans CJK's CIDs equal its glyph ids, so a renumbered
subset still answers every CID the page draws. PDF viewers honour that charset
for a bare CFF program (``FontFile3`` / ``CIDFontType0C``, PDF 1.3) but not for
one wrapped in OpenType (they then take CIDs as glyph ids), so the finisher
embeds the subset's ``CFF`` table alone. Widths, ``ToUnicode`` and the content
streams stay as WeasyPrint wrote them, keyed by the same CIDs.

Pass ``compact_fonts`` as ``finisher`` to ``Document.write_pdf``. Fonts it cannot
prove safe (TrueType, variable, colour, bitmap, form fonts, a CFF whose CIDs do
not survive) keep WeasyPrint's own subset.
"""
from __future__ import annotations

import io

import pydyf
from fontTools.cffLib import CFFFontSet
from fontTools.ttLib import TTFont
from weasyprint.text.ffi import ffi, harfbuzz, harfbuzz_subset
from weasyprint.text.fonts import get_hb_object_data

# Only the CFF table is embedded; dropping the rest also stops HarfBuzz from
# pulling in glyphs reachable through layout features or variation sequences.
_DROP_TABLES = (b"BASE", b"GDEF", b"GPOS", b"GSUB", b"JSTF", b"VORG", b"cmap", b"vhea",
                b"vmtx")


def compact_fonts(document, pdf: pydyf.PDF) -> None:
    """Replace each embedded CID-keyed OpenType/CFF subset by a compact bare CFF."""
    streams = {id(obj.stream[0]): obj for obj in pdf.objects
               if isinstance(obj, pydyf.Stream) and obj.stream
               and obj.extra.get("Subtype") == "/OpenType"}
    for fonts in _fonts_by_file(document.fonts.values()):
        font = fonts[0]
        stream = streams.get(id(font.file_content))
        if stream is None or not _compactable(font):
            continue
        gids = sorted({gid for each in fonts for gid in each.to_unicode
                       if gid < font.glyph_count} | {0})
        cff = compact_cff(font.hb_face, gids, notdef_outline=bool(font.missing))
        if cff is not None:
            stream.stream = [cff]
            stream.extra["Subtype"] = "/CIDFontType0C"


def compact_cff(hb_face, gids: list[int], notdef_outline: bool = False) -> bytes | None:
    """The CFF table of a renumbered subset of ``hb_face`` keeping ``gids`` as CIDs.

    ``None`` when the font is not CID-keyed or its CIDs are not its glyph ids.
    """
    subset = _harfbuzz_subset(hb_face, gids, notdef_outline)
    if subset is None or subset[:4] != b"OTTO":
        return None
    cff = TTFont(io.BytesIO(subset), lazy=True).reader["CFF "]
    return cff if cids_kept(cff, gids) else None


def cids_kept(cff: bytes, gids: list[int]) -> bool:
    """Whether ``cff`` is CID-keyed and holds a glyph for CID ``g`` for every ``g`` in gids."""
    fonts = CFFFontSet()
    fonts.decompile(io.BytesIO(cff), None)
    top = fonts.topDictIndex[0]
    if not hasattr(top, "ROS"):
        return False
    return {f"cid{gid:05d}" for gid in gids if gid} <= set(top.charset)


def _harfbuzz_subset(hb_face, gids: list[int], notdef_outline: bool) -> bytes | None:
    subset_input = ffi.gc(harfbuzz_subset.hb_subset_input_create_or_fail(),
                          harfbuzz_subset.hb_subset_input_destroy)
    _add_sorted(harfbuzz_subset.hb_subset_input_glyph_set(subset_input), gids)
    _add_sorted(harfbuzz_subset.hb_subset_input_set(
        subset_input, harfbuzz_subset.HB_SUBSET_SETS_DROP_TABLE_TAG),
        sorted(harfbuzz.hb_tag_from_string(tag, -1) for tag in _DROP_TABLES))
    flags = harfbuzz_subset.HB_SUBSET_FLAGS_NO_HINTING | \
        harfbuzz_subset.HB_SUBSET_FLAGS_DESUBROUTINIZE
    if notdef_outline:
        flags |= harfbuzz_subset.HB_SUBSET_FLAGS_NOTDEF_OUTLINE
    harfbuzz_subset.hb_subset_input_set_flags(subset_input, flags)
    face = harfbuzz_subset.hb_subset_or_fail(hb_face, subset_input)
    if face == ffi.NULL:
        return None
    face = ffi.gc(face, harfbuzz.hb_face_destroy)
    return get_hb_object_data(face) or None


def _add_sorted(hb_set, values: list[int]) -> None:
    array = ffi.new(f"hb_codepoint_t[{len(values)}]", values)
    harfbuzz.hb_set_add_sorted_array(hb_set, array, len(values))


def _compactable(font) -> bool:
    return (font.type == "otf" and not font.used_in_forms and not font.bitmap
            and not (font.png or font.svg or font.colr) and "fvar" not in font.tables
            and harfbuzz_subset is not None)


def _fonts_by_file(fonts) -> list[list]:
    groups: dict[str, list] = {}
    for font in fonts:
        groups.setdefault(font.hash, []).append(font)
    return list(groups.values())
