"""The only way a template reaches anything: its own bundled assets.

A template fed user data must not become a way to read the worker's files or
reach the network (the cloud metadata address above all), so every URL
WeasyPrint asks for is checked here: ``file://`` inside the template's folder
and ``data:`` are fetched; everything else is refused and fails the document.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from weasyprint.urls import URLFetcher

from tasks.pdf.errors import AssetRefused


def refusal(url: str, root: Path) -> str | None:
    """Why ``url`` may not be fetched by a template bundled in ``root``; None if it may."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "data":
        return None
    if scheme != "file":
        return (f"refused to load {url!r}: templates may load only their own bundled "
                f"assets, never the network")
    if parts.netloc not in ("", "localhost"):
        return f"refused to load {url!r}: a file URL on another host"
    path = Path(url2pathname(unquote(parts.path))).resolve()
    if not path.is_relative_to(root.resolve()):
        return (f"refused to load {url!r}: it is outside the template's assets folder "
                f"{root.name}/")
    return None


class BundledAssetFetcher(URLFetcher):
    """WeasyPrint's fetcher, limited to one template's folder; refusals stop the render."""

    def __init__(self, root: Path):
        super().__init__(fail_on_errors=True, allowed_protocols=("file", "data"),
                         allow_redirects=False)
        self.root = root.resolve()

    def fetch(self, url, headers=None):
        reason = refusal(url, self.root)
        if reason:
            raise AssetRefused(reason)
        return super().fetch(url, headers)
