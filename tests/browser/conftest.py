"""A real browser against the real system: headless Chromium (Debian's ``chromium``
package) driven by Playwright, the web app served over HTTP on 127.0.0.1, a worker
on every queue, moto and PostgreSQL.

Playwright never downloads a browser here: it drives ``CHROMIUM`` (install it
with ``scripts/bootstrap.sh --test`` as root, or ``apt-get install chromium``).
"""
from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from stack import services
from webapp import create_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
#: Screenshots and downloads the browser tests keep (git ignores the folder).
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@pytest.fixture
def settings(settings):
    """Plain HTTP on 127.0.0.1: session cookies without the Secure flag."""
    return replace(settings, cookie_secure=False, secret_key="browser-test-secret")


@pytest.fixture
def live_server(settings, queue_urls):
    """The web app with its real enqueuer, served by werkzeug on a free port; its base URL."""
    app = create_app(settings=settings)
    server = make_server("127.0.0.1", services.free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


@pytest.fixture
def worker(start_worker):
    """One worker process on every queue."""
    return start_worker("browser-worker", WORKER_QUEUES="default,pdf,imports,exports")


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `sudo scripts/bootstrap.sh --test` "
                    "(installs Debian's chromium package)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, live_server):
    """A fresh browser tab (its own cookies) whose relative URLs go to the live server."""
    context = chromium.new_context(base_url=live_server, accept_downloads=True, locale="en-US")
    context.set_default_timeout(30_000)
    tab = context.new_page()
    errors = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    yield tab
    context.close()
    assert not errors, f"the pages' scripts failed: {errors}"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
