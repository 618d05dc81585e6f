"""Signing in and out, and the user's API tokens."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from core.errors import InvalidRequest
from store import accounts
from webapp import signin
from webapp.extensions import db
from webapp.i18n import gettext as _

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The sign-in form; on success, back to where the user was going."""
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        wait = signin.wait_before(username)
        if wait:
            return _throttled(wait)
        user = accounts.authenticate(db.session, username, request.form.get("password", ""))
        if user is not None:
            login_user(user, remember=bool(request.form.get("remember")))
            return redirect(_safe_next(request.args.get("next")))
        flash(_("Wrong user name or password."), "error")
        return render_template("account/login.html"), 401
    if current_user.is_authenticated:
        return redirect(url_for("pages.jobs"))
    return render_template("account/login.html")


def _throttled(wait: float):
    """429 with ``Retry-After``, and the form again with when to try."""
    seconds = signin.retry_after(wait)
    at = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    flash(_("Too many sign-in attempts. Try again in {seconds} seconds, at {time}.",
            seconds=seconds, time=at.strftime("%H:%M:%S UTC")), "error")
    return render_template("account/login.html"), 429, {"Retry-After": str(seconds)}


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect to another host."""
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("pages.jobs")


@bp.post("/logout")
def logout():
    """Sign out everywhere: a copy of this session or its remember cookie stops working too."""
    if current_user.is_authenticated:
        accounts.end_sessions(db.session, current_user._get_current_object())
        db.session.commit()
    logout_user()
    return redirect(url_for("auth.login"))


@bp.get("/account/tokens")
@login_required
def tokens():
    """The user's API tokens."""
    return render_template("account/tokens.html", tokens=accounts.tokens_of(db.session, current_user))


@bp.post("/account/tokens")
@login_required
def create_token():
    """Make a token and show it, once."""
    try:
        _, token = accounts.create_token(db.session, current_user, request.form.get("name", ""))
        db.session.commit()
    except InvalidRequest as exc:
        flash(_("Token name") + ": " + exc.message, "error")
        return redirect(url_for("auth.tokens"))
    return render_template("account/tokens.html", new_token=token,
                           tokens=accounts.tokens_of(db.session, current_user))


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    revoked = accounts.revoke_token(db.session, current_user, token_id)
    db.session.commit()
    if revoked:
        flash(_("The token was revoked; it no longer works."), "info")
    return redirect(url_for("auth.tokens"))
