"""Refuse to start a PDF worker that would render Japanese ~30x slower.

Without HarfBuzz's subsetter (Debian's ``libharfbuzz-subset0``) WeasyPrint
quietly subsets fonts with fontTools instead: a one-page Japanese PDF takes
~10 s instead of ~0.3 s, and the only sign is a warning in the log.
"""
from __future__ import annotations

from types import ModuleType

from tasks.pdf.errors import RendererUnavailable

INSTALL_HINT = ("install it with `apt-get install libharfbuzz-subset0` (Debian/Ubuntu; "
                "scripts/bootstrap.sh and docker/worker.Dockerfile do)")
MIN_VERSION = (4, 1, 0)


def check_harfbuzz_subset(ffi: ModuleType | None = None) -> None:
    """Raise ``RendererUnavailable`` unless WeasyPrint found HarfBuzz-subset >= 4.1."""
    if ffi is None:
        from weasyprint.text import ffi
    if ffi.harfbuzz_subset is None:
        raise RendererUnavailable(
            "the HarfBuzz subset library (libharfbuzz-subset.so.0) is missing, so WeasyPrint "
            f"would subset fonts ~30x slower; {INSTALL_HINT}")
    if not ffi.harfbuzz.hb_version_atleast(*MIN_VERSION):
        raise RendererUnavailable(
            f"HarfBuzz is older than {'.'.join(map(str, MIN_VERSION))}, so WeasyPrint would "
            f"subset fonts ~30x slower; {INSTALL_HINT} from a newer release")


def check_worker(queues) -> None:
    """The preflight of ``python -m worker``: only workers that take PDF work need it."""
    if "pdf" in queues:
        check_harfbuzz_subset()
