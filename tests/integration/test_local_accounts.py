"""The local run's accounts: created once, same passwords on the next run, one live token."""
from __future__ import annotations

from sqlalchemy import text

from stack import accounts as local


def test_the_local_accounts_keep_their_passwords_and_one_live_token(app, engine, tmp_path):
    saved = tmp_path / "accounts.json"
    first = local.ensure(engine.url.render_as_string(hide_password=False), saved)
    second = local.ensure(engine.url.render_as_string(hide_password=False), saved)

    assert first["passwords"] == second["passwords"]
    assert set(first["passwords"]) == {"demo", "admin"}
    assert oct(saved.stat().st_mode & 0o777) == "0o600"
    client = app.test_client()
    assert client.get("/api/jobs", headers={"Authorization": f"Bearer {first['token']}"}).status_code == 401
    answer = client.get("/api/jobs", headers={"Authorization": f"Bearer {second['token']}"})
    assert answer.status_code == 200
    with engine.connect() as conn:
        roles = dict(conn.execute(text(
            "SELECT username, role FROM users WHERE username IN ('demo', 'admin')")).all())
    assert roles == {"demo": "user", "admin": "operator"}
