"""Accounts and API tokens: create users, check passwords, issue and revoke tokens.

Nothing here commits: the caller does, once the whole change is made."""
from __future__ import annotations

import functools
import hashlib
import re
import secrets
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from core.errors import InvalidRequest
from store.models import ROLES, ApiToken, User

TOKEN_PREFIX = "jst_"
MIN_PASSWORD = 10
_USE_NOTED_EVERY = timedelta(minutes=1)
_USERNAME = re.compile(r"^[A-Za-z0-9][\w.@+-]{0,199}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.][^@\s]*$")


@functools.cache
def _dummy_hash() -> str:
    """Checked against when a name is unknown, so a wrong name costs what a wrong password does."""
    return generate_password_hash("not a password of anyone")


def create_user(session: Session, username: str, email: str, password: str,
                role: str = "user") -> User:
    """A new account; InvalidRequest names what is wrong with the input."""
    if not _USERNAME.match(username or ""):
        raise InvalidRequest("username", "must be 1-200 letters, digits or . _ @ + -, "
                                         "starting with a letter or digit")
    if not _EMAIL.match(email or ""):
        raise InvalidRequest("email", f"{email!r} is not an e-mail address")
    if len(password or "") < MIN_PASSWORD:
        raise InvalidRequest("password", f"must be at least {MIN_PASSWORD} characters")
    if role not in ROLES:
        raise InvalidRequest("role", f"must be one of {', '.join(ROLES)}")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise InvalidRequest("username", f"{username!r} is taken")
    user = User(username=username, email=email, role=role,
                password_hash=generate_password_hash(password))
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, user: User, password: str) -> None:
    """Replace a user's password; every session the user has ends."""
    if len(password or "") < MIN_PASSWORD:
        raise InvalidRequest("password", f"must be at least {MIN_PASSWORD} characters")
    user.password_hash = generate_password_hash(password)
    end_sessions(session, user)


def end_sessions(session: Session, user: User) -> None:
    """End every session and remember cookie of ``user``, in every browser."""
    user.session_generation = User.session_generation + 1
    session.flush()


def user_for_session(session: Session, session_id: str) -> User | None:
    """The enabled user a session's ``<id>:<generation>`` names, if it is not stale."""
    user_id, _, generation = (session_id or "").partition(":")
    if not (user_id.isdigit() and generation.isdigit()):
        return None  # also the plain ids of sessions made before generations
    user = session.get(User, int(user_id))
    if user is None or user.disabled_at is not None or user.session_generation != int(generation):
        return None
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The enabled user with this name and password, else None."""
    user = session.scalar(select(User).where(User.username == (username or "")))
    if user is None:
        check_password_hash(_dummy_hash(), password or "")
        return None
    if not check_password_hash(user.password_hash, password or "") or user.disabled_at:
        return None
    return user


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, user: User, name: str) -> tuple[ApiToken, str]:
    """A new API token for ``user``: the row and the token itself (shown once)."""
    name = (name or "").strip()
    if not 1 <= len(name) <= 100:
        raise InvalidRequest("name", "must be 1-100 characters, e.g. 'nightly script'")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name, digest=digest(token), prefix=token[:12])
    session.add(row)
    session.flush()
    return row, token


def user_for_token(session: Session, token: str, now: datetime | None = None) -> User | None:
    """The enabled owner of a live token, else None. When it was last used is noted
    at most once a minute, so that API calls do not each write a row."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = session.execute(
        select(ApiToken.id, ApiToken.last_used_at, User).join(User, User.id == ApiToken.user_id)
        .where(ApiToken.digest == digest(token), ApiToken.revoked_at.is_(None),
               User.disabled_at.is_(None))).first()
    if row is None:
        return None
    now = now or datetime.now(timezone.utc)
    if row.last_used_at is None or now - row.last_used_at > _USE_NOTED_EVERY:
        session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
    return row.User


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    """The user's tokens, newest first, revoked ones included."""
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)
                                .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def revoke_token(session: Session, user: User, token_id: int) -> bool:
    """Revoke one of the user's own tokens; False if it is not theirs or already revoked."""
    done = session.execute(
        update(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id,
                               ApiToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(timezone.utc))).rowcount
    return bool(done)


def email_of(session: Session, username: str) -> str | None:
    """The e-mail address of the account that owns jobs under ``username``."""
    return session.scalar(select(User.email).where(User.username == username))


def is_operator(session: Session, username: str) -> bool:
    """Whether ``username`` is an operator's account (an unknown or disabled name is not)."""
    return session.scalar(select(User.id).where(
        User.username == username, User.role == "operator",
        User.disabled_at.is_(None))) is not None
