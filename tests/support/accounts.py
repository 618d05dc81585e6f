"""Accounts every test database has, each with a fixed API token.

``bearer("alice")`` is the header that makes a request as alice; ``PASSWORD``
signs any of them in through the login form.
"""
from __future__ import annotations

from sqlalchemy import text
from werkzeug.security import generate_password_hash

from store.accounts import TOKEN_PREFIX, digest

PASSWORD = "correct horse battery"
USERS = {"local": "user", "alice": "user", "bob": "user", "tester": "user",
         "ops": "operator"}


def token_of(username: str) -> str:
    return f"{TOKEN_PREFIX}test-token-of-{username}"


def bearer(username: str = "local") -> dict:
    return {"Authorization": f"Bearer {token_of(username)}"}


def seed(engine) -> None:
    """Create the accounts and their tokens (again, harmlessly, if they exist)."""
    hashed = generate_password_hash(PASSWORD)
    with engine.begin() as conn:
        for username, role in USERS.items():
            user_id = conn.execute(text(
                "INSERT INTO users (username, email, password_hash, role) "
                "VALUES (:u, :e, :h, :r) ON CONFLICT (username) DO UPDATE SET role = :r "
                "RETURNING id"),
                {"u": username, "e": f"{username}@example.com", "h": hashed, "r": role}).scalar()
            conn.execute(text(
                "INSERT INTO api_tokens (user_id, name, digest, prefix) VALUES (:i, 'tests', :d, :p) "
                "ON CONFLICT (digest) DO UPDATE SET revoked_at = NULL"),
                {"i": user_id, "d": digest(token_of(username)), "p": token_of(username)[:12]})


def signed_in(test_client, username: str = "local"):
    """``test_client`` sending ``username``'s token with every request."""
    test_client.environ_base["HTTP_AUTHORIZATION"] = bearer(username)["Authorization"]
    return test_client


def csrf_token(html: str) -> str:
    """The CSRF token a page carries (its ``<meta name="csrf-token">``)."""
    import re
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


def sign_in(test_client, username: str, password: str = PASSWORD):
    """Post the login form as a browser does; returns the answer."""
    token = csrf_token(test_client.get("/login").get_data(as_text=True))
    return test_client.post("/login", data={"username": username, "password": password,
                                            "csrf_token": token})


def sign_in_session(test_client, username: str = "local") -> str:
    """Sign ``test_client`` in through the login form, as a browser does; returns the CSRF token."""
    answer = sign_in(test_client, username)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return csrf_token(test_client.get("/").get_data(as_text=True))
