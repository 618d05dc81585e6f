"""The local run's accounts: a user and an operator to sign in with, and an API token.

Their passwords are kept in ``.run/accounts.json`` so that they stay the same from
one run to the next while the database does.
"""
from __future__ import annotations

import json
import secrets
from pathlib import Path

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from core.settings import normalise_database_url
from store import accounts
from store.models import User

LOCAL_USERS = {"demo": "user", "admin": "operator"}
TOKEN_NAME = "local run"


def ensure(database_url: str, saved: Path) -> dict:
    """Make sure the local accounts exist with the saved passwords; returns
    ``{"passwords": {name: password}, "token": <an API token of demo>}``."""
    passwords = _load(saved)
    engine = create_engine(normalise_database_url(database_url))
    try:
        with Session(engine, expire_on_commit=False) as session:
            for name, role in LOCAL_USERS.items():
                passwords.setdefault(name, secrets.token_urlsafe(9))
                user = session.scalar(select(User).where(User.username == name))
                if user is None:
                    user = accounts.create_user(session, name, f"{name}@localhost",
                                                passwords[name], role)
                elif accounts.authenticate(session, name, passwords[name]) is None:
                    accounts.set_password(session, user, passwords[name])
            demo = session.scalar(select(User).where(User.username == "demo"))
            for old in accounts.tokens_of(session, demo):
                if old.name == TOKEN_NAME:  # one live token of the run at a time
                    accounts.revoke_token(session, demo, old.id)
            _, token = accounts.create_token(session, demo, TOKEN_NAME)
            session.commit()
    finally:
        engine.dispose()
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(passwords, indent=2) + "\n")
    saved.chmod(0o600)
    return {"passwords": passwords, "token": token}


def _load(saved: Path) -> dict:
    try:
        return {k: v for k, v in json.loads(saved.read_text()).items() if k in LOCAL_USERS}
    except (OSError, ValueError):
        return {}
