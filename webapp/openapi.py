"""``GET /api/openapi.json``: the API described in OpenAPI 3 (``webapp/openapi.yaml``)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from flask import Blueprint, jsonify

bp = Blueprint("openapi", __name__, url_prefix="/api")
SPEC_PATH = Path(__file__).with_name("openapi.yaml")


@lru_cache(maxsize=1)
def document() -> dict:
    """The OpenAPI document, read once."""
    return yaml.safe_load(SPEC_PATH.read_text("utf-8"))


@bp.get("/openapi.json")
def spec():
    """The OpenAPI document as JSON; needs no token."""
    return jsonify(document())
