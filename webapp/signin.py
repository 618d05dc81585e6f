"""Sign-in limits per client address and per user name, shared by every web process.

Each attempt costs a password hash (~0.13 s of scrypt), so the limits are checked
and the attempt taken before the hash is computed. The address is the one
``TRUSTED_PROXIES`` lets ProxyFix find in ``X-Forwarded-For``.
"""
from __future__ import annotations

import math

from flask import current_app, request

from core.ratelimit import parse_rate
from store import throttle
from webapp.extensions import db

FAMILY = "signin-"


def wait_before(username: str) -> float:
    """0 if this attempt may go on (and takes it), else the seconds until one may."""
    settings = current_app.extensions["jobsys.settings"]
    family = settings.queue_prefix + FAMILY
    limits = (("addr:", request.remote_addr or "", settings.signin_limit_per_address),
              ("user:", username, settings.signin_limit_per_account))
    try:
        for kind, value, limit in limits:
            wait = throttle.take(db.session, family + kind, value, parse_rate(limit))
            if wait:
                return wait
        return 0.0
    finally:
        db.session.commit()  # never hold a bucket's row while a password is hashed


def retry_after(wait: float) -> int:
    """``Retry-After`` seconds for a wait: whole, and at least one."""
    return max(1, math.ceil(wait))
