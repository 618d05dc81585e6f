"""Who is asking. Until accounts exist, the ``X-Owner`` header names the owner."""
from __future__ import annotations

import re

from flask import request

from webapp.errors import ApiError

DEFAULT_OWNER = "local"
_OWNER = re.compile(r"^[\w.@+-]{1,200}$")


def current_owner() -> str:
    """The owner of the jobs this request creates and sees."""
    owner = request.headers.get("X-Owner", DEFAULT_OWNER).strip()
    if not _OWNER.match(owner):
        raise ApiError(400, "must be 1-200 letters, digits or . _ @ + -", field="X-Owner")
    return owner
