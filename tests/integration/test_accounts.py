"""Accounts, sessions, API tokens and who may see what, against a real PostgreSQL."""
from __future__ import annotations

import re

import pytest

from core.errors import InvalidRequest
from core.enqueue import MemoryEnqueuer
from tests.support.accounts import PASSWORD, bearer, csrf_token, sign_in
from webapp import create_app
from store import accounts, jobstore
from store.models import User
from webapp.extensions import db


def _csrf(page) -> str:
    return csrf_token(page.get_data(as_text=True))


def test_the_api_answers_401_without_a_token_or_session(anonymous):
    response = anonymous.get("/api/jobs")
    assert response.status_code == 401
    assert "Authorization: Bearer" in response.get_json()["error"]["message"]
    assert anonymous.post("/api/jobs", json={"kind": "canary"}).status_code == 401


def test_an_unknown_or_revoked_token_is_refused(app, anonymous):
    assert anonymous.get("/api/jobs", headers={"Authorization": "Bearer jst_nope"}).status_code == 401
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(username="alice"))
        row, token = accounts.create_token(db.session, user, "script")
        db.session.commit()
        headers = {"Authorization": f"Bearer {token}"}
        assert anonymous.get("/api/jobs", headers=headers).status_code == 200
        assert accounts.revoke_token(db.session, user, row.id)
        db.session.commit()
    assert anonymous.get("/api/jobs", headers=headers).status_code == 401


def test_pages_send_a_visitor_to_the_sign_in_form(anonymous):
    response = anonymous.get("/account/tokens")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_signing_in_with_the_right_password_opens_a_session(anonymous):
    assert sign_in(anonymous, "alice", "wrong password!").status_code == 401
    response = sign_in(anonymous, "alice")
    assert response.status_code == 302
    cookie = anonymous.get_cookie("session")
    assert cookie.http_only and cookie.same_site == "Lax"
    assert anonymous.get("/api/jobs").status_code == 200


def test_the_session_cookie_is_secure_unless_turned_off(app, anonymous):
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_a_session_request_that_changes_something_needs_the_csrf_token(anonymous):
    sign_in(anonymous, "alice")
    refused = anonymous.post("/api/jobs", json={"kind": "canary"})
    assert refused.status_code == 400 and "CSRF" in refused.get_json()["error"]["message"]
    token = _csrf(anonymous.get("/account/tokens"))
    accepted = anonymous.post("/api/jobs", json={"kind": "canary"}, headers={"X-CSRFToken": token})
    assert accepted.status_code == 202 and accepted.get_json()["owner"] == "alice"


def test_forms_without_the_csrf_token_are_refused(anonymous):
    assert anonymous.post("/login", data={"username": "alice", "password": PASSWORD}).status_code == 400
    sign_in(anonymous, "alice")
    assert anonymous.post("/account/tokens", data={"name": "x"}).status_code == 400
    assert anonymous.post("/logout").status_code == 400


def test_a_token_made_on_the_page_works_once_shown_and_stops_when_revoked(anonymous):
    sign_in(anonymous, "bob")
    page = anonymous.post("/account/tokens", data={"name": "nightly script",
                                                    "csrf_token": _csrf(anonymous.get("/account/tokens"))})
    token = re.search(r'id="new-token">([^<]+)<', page.get_data(as_text=True)).group(1)
    listing = anonymous.get("/account/tokens").get_data(as_text=True)
    assert "nightly script" in listing and token not in listing
    headers = {"Authorization": f"Bearer {token}"}
    assert anonymous.post("/api/jobs", json={"kind": "canary"}, headers=headers).status_code == 202
    token_id = re.search(r'/account/tokens/(\d+)/revoke', listing).group(1)
    anonymous.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": _csrf(page)})
    assert anonymous.get("/api/jobs", headers=headers).status_code == 401


def test_sign_in_goes_back_only_to_a_path_on_this_site(anonymous):
    form = anonymous.get("/login?next=//evil.example/x")
    response = anonymous.post("/login?next=//evil.example/x", data={
        "username": "alice", "password": PASSWORD, "csrf_token": _csrf(form)})
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("kind, path", [
    ("canary", "/api/jobs/{id}"),
    ("pdf_batch", "/api/jobs/{id}/documents"),
    ("pdf_batch", "/api/jobs/{id}/archive"),
    ("export", "/api/jobs/{id}/download"),
    ("csv_import", "/api/jobs/{id}/errors.csv"),
])
def test_one_user_cannot_see_or_download_anothers_job(app, client, kind, path):
    with app.app_context():
        job, _ = jobstore.create(db.session, kind=kind, owner="alice", params={})
        db.session.commit()
    url = path.format(id=job.id)
    assert not _no_such_job(client.get(url, headers=bearer("alice")))
    assert not _no_such_job(client.get(url, headers=bearer("ops")))
    assert _no_such_job(client.get(url, headers=bearer("bob")))


def _no_such_job(response) -> bool:
    return (response.status_code == 404
            and response.get_json()["error"]["message"].startswith("no "))


def test_one_user_cannot_cancel_anothers_job_but_an_operator_can(client):
    job = client.post("/api/jobs", json={"kind": "canary"}, headers=bearer("alice")).get_json()
    assert client.post(f"/api/jobs/{job['id']}/cancel", headers=bearer("bob")).status_code == 404
    assert client.get(f"/api/jobs/{job['id']}", headers=bearer("alice")).get_json()["status"] == "queued"
    assert client.post(f"/api/jobs/{job['id']}/cancel", headers=bearer("ops")).status_code == 202


def test_users_list_their_own_jobs_and_operators_everyones(client):
    mine = client.post("/api/jobs", json={"kind": "canary"}, headers=bearer("alice")).get_json()
    theirs = client.post("/api/jobs", json={"kind": "canary"}, headers=bearer("bob")).get_json()
    listed = {j["id"] for j in client.get("/api/jobs", headers=bearer("alice")).get_json()["jobs"]}
    assert listed == {mine["id"]}
    assert client.get("/api/jobs?owner=bob", headers=bearer("alice")).status_code == 403
    every = {j["id"] for j in client.get("/api/jobs", headers=bearer("ops")).get_json()["jobs"]}
    assert {mine["id"], theirs["id"]} <= every
    bobs = client.get("/api/jobs?owner=bob", headers=bearer("ops")).get_json()["jobs"]
    assert [j["id"] for j in bobs] == [theirs["id"]]


def test_queue_depths_are_for_operators(client):
    assert client.get("/api/queues", headers=bearer("alice")).status_code == 403


def test_account_rules_say_what_to_change(app):
    with app.app_context():
        for args, field in [(("a b", "x@example.com", PASSWORD), "username"),
                            (("carol", "not-mail", PASSWORD), "email"),
                            (("carol", "c@example.com", "short"), "password"),
                            (("alice", "a@example.com", PASSWORD), "username")]:
            with pytest.raises(InvalidRequest) as caught:
                accounts.create_user(db.session, *args)
            assert caught.value.field == field


def test_the_users_command_creates_an_account_that_can_sign_in(app, anonymous):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "carol", "--email", "carol@example.com",
                                 "--operator", "--password-stdin"], input="a long password\n")
    assert result.exit_code == 0, result.output
    assert "created operator carol" in result.output
    assert sign_in(anonymous, "carol", "a long password").status_code == 302
    again = runner.invoke(args=["users", "create", "carol", "--email", "c@example.com",
                                "--password-stdin"], input="a long password\n")
    assert again.exit_code != 0 and "taken" in again.output
    with app.app_context():
        db.session.execute(db.text("DELETE FROM users WHERE username = 'carol'"))
        db.session.commit()


def test_a_tokens_last_use_is_noted_at_most_once_a_minute(app):
    from datetime import datetime, timedelta, timezone
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(username="alice"))
        row, token = accounts.create_token(db.session, user, "cron")
        db.session.commit()
        start = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
        for offset, noted in [(0, 0), (30, 0), (61, 61)]:
            assert accounts.user_for_token(db.session, token, start + timedelta(seconds=offset)) == user
            db.session.commit()
            db.session.refresh(row)
            assert row.last_used_at == start + timedelta(seconds=noted)
        accounts.revoke_token(db.session, user, row.id)
        db.session.commit()


def test_only_operators_export_everyones_jobs(client):
    body = {"kind": "export", "params": {"dataset": "jobs"}}
    refused = client.post("/api/jobs", json=body, headers=bearer("alice"))
    assert refused.status_code == 403 and refused.get_json()["error"]["field"] == "params.dataset"
    assert client.post("/api/jobs", json=body, headers=bearer("ops")).status_code == 202
    customers = {"kind": "export", "params": {"dataset": "customers"}}
    assert client.post("/api/jobs", json=customers, headers=bearer("alice")).status_code == 202


def test_the_export_form_offers_everyones_jobs_to_operators_only(anonymous):
    sign_in(anonymous, "alice")
    assert 'value="jobs"' not in anonymous.get("/exports/new").get_data(as_text=True)
    anonymous.post("/logout", data={"csrf_token": _csrf(anonymous.get("/exports/new"))})
    sign_in(anonymous, "ops")
    assert 'value="jobs"' in anonymous.get("/exports/new").get_data(as_text=True)


def _create(client, user: str, kind: str, **params):
    return client.post("/api/jobs", headers=bearer(user), json={"kind": kind, "params": params})


def test_a_batch_reads_only_its_owners_recipients_files(client):
    def batch(user, key):
        return _create(client, user, "pdf_batch", template="letter", csv=key)
    alices = client.post("/api/pdf/uploads", json={"filename": "r.csv"},
                         headers=bearer("alice")).get_json()["key"]
    assert alices.startswith("pdf/recipients/alice/")
    assert batch("alice", alices).status_code == 202
    refused = batch("bob", alices)
    assert refused.status_code == 403 and refused.get_json()["error"]["field"] == "params.csv"
    assert batch("bob", "exports/some-job/customers.csv").status_code == 403
    assert batch("ops", alices).status_code == 202


def _copy_of(app, browser, cookie: str):
    """Another browser holding only a copy of ``browser``'s ``cookie``."""
    other = app.test_client()
    other.set_cookie(cookie, browser.get_cookie(cookie).value)
    return other


def _sign_out(browser) -> None:
    assert browser.post("/logout", data={"csrf_token": _csrf(browser.get("/"))}).status_code == 302


def test_a_copied_session_cookie_stops_working_after_logout(app, anonymous):
    sign_in(anonymous, "alice")
    copy = _copy_of(app, anonymous, "session")
    assert copy.get("/api/jobs").status_code == 200

    _sign_out(anonymous)

    assert copy.get("/api/jobs").status_code == 401
    assert copy.get("/").headers["Location"].startswith("/login")


def test_a_copied_remember_cookie_stops_working_after_logout(app, anonymous):
    form = anonymous.get("/login")
    anonymous.post("/login", data={"username": "bob", "password": PASSWORD, "remember": "y",
                                   "csrf_token": _csrf(form)})
    copy = _copy_of(app, anonymous, "remember_token")
    assert copy.get("/api/jobs").status_code == 200, "the remember cookie signs a browser in"
    stale = _copy_of(app, anonymous, "remember_token")

    _sign_out(anonymous)

    assert stale.get("/api/jobs").status_code == 401
    assert copy.get("/api/jobs").status_code == 401, "nor the session it had opened"


def test_a_password_change_ends_every_session_of_the_user(app, anonymous):
    sign_in(anonymous, "tester")
    assert anonymous.get("/api/jobs").status_code == 200

    changed = app.test_cli_runner().invoke(args=["users", "password", "tester", "--password-stdin"],
                                           input=PASSWORD + "\n")

    assert changed.exit_code == 0, changed.output
    assert anonymous.get("/api/jobs").status_code == 401
    assert sign_in(anonymous, "tester").status_code == 302, "the new password signs in again"


def test_a_disabled_user_is_signed_out_everywhere(app, anonymous):
    sign_in(anonymous, "bob")
    with app.app_context():
        db.session.execute(db.text("UPDATE users SET disabled_at = now() WHERE username = 'bob'"))
        db.session.commit()
    try:
        assert anonymous.get("/api/jobs").status_code == 401
        assert anonymous.get("/api/jobs", headers=bearer("bob")).status_code == 401
    finally:
        with app.app_context():
            db.session.execute(db.text("UPDATE users SET disabled_at = NULL WHERE username = 'bob'"))
            db.session.commit()


def _tokens_of(app, username: str) -> int:
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(username=username))
        return len(accounts.tokens_of(db.session, user))


def test_an_api_token_cannot_mint_tokens_on_page_routes(app, anonymous):
    before = _tokens_of(app, "alice")

    minted = anonymous.post("/account/tokens", data={"name": "outlives me"}, headers=bearer("alice"))

    assert minted.status_code == 403
    assert "only on /api/" in minted.get_json()["error"]["message"]
    assert _tokens_of(app, "alice") == before
    for method, path in [("GET", "/account/tokens"), ("GET", "/"), ("POST", "/logout"),
                         ("POST", "/account/tokens/1/revoke"), ("GET", "/operator/")]:
        answer = anonymous.open(path, method=method, headers=bearer("ops"))
        assert answer.status_code == 403, (method, path)


def test_a_token_sent_with_a_session_does_not_reach_the_pages_either(anonymous):
    sign_in(anonymous, "alice")
    form = _csrf(anonymous.get("/account/tokens"))
    answer = anonymous.post("/account/tokens", data={"name": "x", "csrf_token": form},
                            headers=bearer("alice"))
    assert answer.status_code == 403
    assert anonymous.get("/api/jobs", headers=bearer("alice")).status_code == 200


def _attempt(browser, username: str, password: str = "wrong password!", **environ):
    form = browser.get("/login", environ_base=environ)
    return browser.post("/login", data={"username": username, "password": password,
                                        "csrf_token": _csrf(form)}, environ_base=environ)


@pytest.fixture
def hashes(monkeypatch):
    """How many password hashes sign-ins have checked."""
    count = []
    real = accounts.check_password_hash
    monkeypatch.setattr(accounts, "check_password_hash",
                        lambda *args: count.append(1) or real(*args))
    return count


@pytest.mark.settings(signin_limit_per_account="3/minute")
def test_sign_in_is_throttled_per_account_with_retry_after(app, anonymous, hashes):
    assert [_attempt(anonymous, "alice").status_code for _ in range(3)] == [401] * 3

    refused = _attempt(app.test_client(), "Alice", PASSWORD)

    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 20
    assert "Too many sign-in attempts. Try again in" in refused.get_data(as_text=True)
    assert len(hashes) == 3, "a refused attempt costs no password hash"
    assert _attempt(anonymous, "bob", PASSWORD).status_code == 302, "other accounts sign in"


@pytest.mark.settings(signin_limit_per_address="3/minute")
def test_sign_in_is_throttled_per_address_across_web_processes(settings, anonymous):
    other_process = create_app({"TESTING": True}, settings=settings,
                               enqueuer=MemoryEnqueuer()).test_client()
    browsers = [anonymous, other_process, anonymous]
    here = {"REMOTE_ADDR": "198.51.100.7"}
    assert [_attempt(b, name, **here).status_code
            for b, name in zip(browsers, ["alice", "bob", "nobody"])] == [401] * 3

    assert _attempt(other_process, "tester", PASSWORD, **here).status_code == 429
    assert _attempt(anonymous, "tester", PASSWORD, REMOTE_ADDR="198.51.100.8").status_code == 302


@pytest.mark.settings(signin_limit_per_address="2/minute")
def test_a_forged_x_forwarded_for_does_not_escape_the_address_limit(anonymous):
    codes = [_attempt(anonymous, "alice", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code
             for i in range(3)]
    assert codes == [401, 401, 429]


@pytest.mark.settings(signin_limit_per_address="2/minute", trusted_proxies=1)
def test_behind_the_load_balancer_the_address_it_saw_is_throttled(anonymous):
    def through_the_balancer(forged: str, client: str) -> int:
        return _attempt(anonymous, "alice", REMOTE_ADDR="10.0.0.5",
                        HTTP_X_FORWARDED_FOR=f"{forged}, {client}").status_code

    assert [through_the_balancer(f"192.0.2.{i}", "203.0.113.9") for i in range(3)] == \
        [401, 401, 429]
    assert through_the_balancer("192.0.2.1", "203.0.113.10") == 401


def _jobs_of(client, user: str, kind: str) -> list:
    return client.get(f"/api/jobs?kind={kind}", headers=bearer(user)).get_json()["jobs"]


@pytest.mark.settings(pdf_source_tables=("investors",))
def test_a_user_cannot_render_a_source_table(client):
    refused = _create(client, "alice", "pdf_batch", template="letter", table="investors")
    assert refused.status_code == 403
    error = refused.get_json()["error"]
    assert error["field"] == "params.table"
    assert error["message"].startswith("only operators may start a batch from a table")
    assert _jobs_of(client, "alice", "pdf_batch") == []
    assert _create(client, "ops", "pdf_batch", template="letter", table="investors") \
        .status_code == 202


def test_a_csv_import_job_cannot_name_another_users_upload(client):
    def start(user, key):
        return _create(client, user, "csv_import", dataset="customers", key=key)
    alices = client.post("/api/imports/uploads", json={"dataset": "customers"},
                         headers=bearer("alice")).get_json()["key"]
    refused = start("bob", alices)
    assert refused.status_code == 403
    assert refused.get_json()["error"] == {
        "field": "params.key", "message": "an import may read only a file you uploaded; "
                                          "POST /api/imports/uploads gives you a key"}
    assert start("bob", "imports/customers/nobody/r.csv").status_code == 403
    assert _jobs_of(client, "bob", "csv_import") == []
    assert start("alice", alices).status_code == 202
    assert start("ops", alices).status_code == 202
