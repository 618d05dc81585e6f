"""A user in a real browser: signs in, imports a CSV with a bad row while its progress
bar fills, reads the per-row errors and downloads the error report, renders a PDF
batch from an uploaded CSV and downloads its ZIP, exports what was imported, and
finds the three jobs on the live job list."""
from __future__ import annotations

import csv
import io
import random
import re
import zipfile

from playwright.sync_api import expect

from tasks.imports.samples import HEADER, customer_row
from tests.support.accounts import PASSWORD

BAD_LINE = 7  # the header is line 1


def _customers_with_a_bad_email(path) -> None:
    rnd = random.Random(7)
    rows = [customer_row(n, rnd) for n in range(1, 21)]
    rows[BAD_LINE - 2][3] = "not-an-address"
    with open(path, "w", encoding="utf-8", newline="") as out:
        csv.writer(out, lineterminator="\r\n").writerows([HEADER, *rows])


def _letters(path, count: int) -> None:
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["name", "date", "subject", "body"])
        for n in range(1, count + 1):
            writer.writerow([f"佐藤 花子{n}", "2026年11月30日", "ご案内", "本文です。"])


def _sign_in(page) -> None:
    served = page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    # The whole flow runs under the pages' policy: a violation is a console error.
    assert "script-src 'self';" in served.headers["content-security-policy"]
    page.fill("input[name=username]", "local")
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("h1")).to_have_text("Jobs")


def _wait_until_finished(page, status: str) -> None:
    """The job page reloads itself when the job ends; then its bar is full."""
    expect(page.locator(f"[data-field=status] .status-{status}")).to_be_visible(timeout=90_000)
    page.wait_for_function("() => { const p = document.querySelector('[data-field=progress] "
                           "progress'); return p && p.max > 0 && p.value === p.max; }")


def test_import_with_a_bad_row_then_a_pdf_batch(page, worker, clean_imports, tmp_path,
                                                 artifacts):
    _sign_in(page)

    # An import that allows one bad row: 19 customers go in, the bad one is reported.
    customers = tmp_path / "顧客.csv"
    _customers_with_a_bad_email(customers)
    page.goto("/imports/new")
    expect(page.locator("select[name=dataset] option[value=customers]")).to_have_count(1)
    page.fill("input[name=max_bad_rows]", "1")
    page.set_input_files("input[type=file]", str(customers))
    page.click("#import-form button[type=submit]")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    _wait_until_finished(page, "partially_failed")
    expect(page.locator("[data-field=progress] .counts")).to_contain_text("19 / 20")

    problems = page.locator("#problems tbody tr")
    expect(problems).to_have_count(1)
    expect(problems.first).to_contain_text(str(BAD_LINE))
    expect(problems.first).to_contain_text("not-an-address")
    screenshot = artifacts / "import-job-page.png"
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"\nscreenshot of the job page: {screenshot}")
    with page.expect_download() as download:
        page.click("#errors-csv")
    report = download.value.path().read_text(encoding="utf-8-sig")
    assert report.splitlines()[0] == "line,column,value,message"
    assert f"{BAD_LINE},メールアドレス,not-an-address," in report

    # A PDF batch of three letters from an uploaded CSV, and its ZIP.
    letters = tmp_path / "letters.csv"
    _letters(letters, 3)
    page.goto("/pdf/new")
    page.select_option("select[name=template]", "letter")
    page.set_input_files("input[type=file]", str(letters))
    page.click("#pdf-form button[type=submit]")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    _wait_until_finished(page, "succeeded")
    page.screenshot(path=str(artifacts / "pdf-job-page.png"), full_page=True)
    with page.expect_download() as download:
        page.click("#archive")
    with zipfile.ZipFile(io.BytesIO(download.value.path().read_bytes())) as archive:
        names = sorted(archive.namelist())
        assert names == ["000001-佐藤花子1.pdf", "000002-佐藤花子2.pdf", "000003-佐藤花子3.pdf"]
        assert all(archive.read(name).startswith(b"%PDF") for name in names)

    # An export of the imported customers: two columns, one filter.
    page.goto("/exports/new")
    page.select_option("select[name=dataset]", "customers")
    for column in page.locator("input[name=column]").all():
        if column.get_attribute("value") not in ("customer_code", "email"):
            column.uncheck()
    page.click("[data-add-filter]")
    page.select_option(".filter [data-f=column]", "customer_code")
    page.select_option(".filter [data-f=op]", "in")
    page.fill(".filter [data-f=value]", "C00000001, C00000002")
    page.screenshot(path=str(artifacts / "export-form.png"), full_page=True)
    page.click("#export-form button[type=submit]")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    _wait_until_finished(page, "succeeded")
    with page.expect_download() as download:
        page.click("#download")
    assert download.value.path().read_text(encoding="utf-8").splitlines() == [
        "customer_code,email", "C00000001,user1@example.co.jp", "C00000002,user2@example.co.jp"]

    # The list shows the three jobs, kept live from the API, in Japanese when asked.
    with page.expect_response(lambda r: "/api/jobs?limit=" in r.url):
        page.goto("/?lang=ja")
    expect(page.locator("#jobs tbody tr")).to_have_count(3)
    expect(page.locator("#jobs .status-succeeded")).to_have_text(["成功", "成功"])
    expect(page.locator("#jobs .status-partially_failed")).to_have_text("一部失敗")
    page.screenshot(path=str(artifacts / "jobs-list-ja.png"), full_page=True)
