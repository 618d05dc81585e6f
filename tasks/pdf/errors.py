"""Errors of the PDF renderer: what a user can fix, and what an operator must."""
from __future__ import annotations

from core.errors import ConfigurationError, JobFailed


class DocumentError(JobFailed):
    """One document cannot be rendered from its data or template; retrying will not help."""


class MissingVariable(DocumentError):
    """The template uses a variable the recipient's data does not have."""

    def __init__(self, template: str, name: str):
        super().__init__(f"template {template!r} needs the variable {name!r}, "
                         f"which this recipient's data does not have")
        self.name = name


class TemplateNotFound(DocumentError):
    """No template of that name ships with the worker."""


class AssetRefused(DocumentError):
    """The template asked for a resource outside its own bundled assets."""


class RendererUnavailable(ConfigurationError):
    """The machine lacks a system library the renderer needs; the message says which."""
