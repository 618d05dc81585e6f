"""The renderer: Japanese text that survives extraction, embedded subset fonts,
strict variables, and templates that can reach nothing but their own assets."""
from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from core import pdfbatch
from stack import services
from tasks.pdf import preflight, samples
from tasks.pdf.errors import AssetRefused, MissingVariable, RendererUnavailable, TemplateNotFound
from tasks.pdf.render import TEMPLATES_DIR, Renderer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def renderer():
    return Renderer()


def pdftotext(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True,
                          check=True).stdout.decode()


def pdffonts(pdf: bytes, tmp_path: Path) -> list[list[str]]:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdffonts", str(path)], capture_output=True, check=True, text=True)
    return [line.split() for line in out.stdout.splitlines()[2:]]


def test_statement_text_reads_back_in_japanese_with_page_numbers(renderer):
    text = pdftotext(renderer.render("statement", samples.STATEMENT))
    for expected in ("請求書", "山田 太郎 様", "ウェブサイト保守（11月分）", "¥94,600", "ページ 1 / 1"):
        assert expected in text


def test_letter_text_reads_back_in_japanese(renderer):
    text = pdftotext(renderer.render("letter", samples.LETTER))
    assert "佐藤 花子 様" in text and "サービス料金改定のお知らせ" in text


def test_a_long_statement_numbers_every_page(renderer):
    items = [{"description": f"品目{n}", "quantity": 1, "unit_price": 100} for n in range(60)]
    text = pdftotext(renderer.render("statement", {**samples.STATEMENT, "items": items}))
    pages = text.count("\f")
    assert pages > 1
    assert all(f"ページ {n} / {pages}" in text for n in range(1, pages + 1))


def test_fonts_are_noto_sans_cjk_jp_embedded_and_subset(renderer, tmp_path):
    fonts = pdffonts(renderer.render("statement", samples.STATEMENT), tmp_path)
    assert fonts, "the PDF names no fonts"
    for name, *rest in fonts:
        assert "+Noto-Sans-CJK-JP" in name  # a subset tag such as ABCDEF+
        emb, sub, uni = rest[-5:-2]
        assert (emb, sub, uni) == ("yes", "yes", "yes")


def test_a_missing_variable_is_an_error_that_names_it(renderer):
    data = {k: v for k, v in samples.STATEMENT.items() if k != "invoice_number"}
    with pytest.raises(MissingVariable) as error:
        renderer.render("statement", data)
    assert error.value.name == "invoice_number"
    assert "'invoice_number'" in str(error.value)


def test_a_missing_field_of_an_item_is_named_too(renderer):
    data = {**samples.STATEMENT, "items": [{"description": "x", "quantity": 1}]}
    with pytest.raises(MissingVariable, match="'unit_price'"):
        renderer.render("statement", data)


def test_recipient_data_is_escaped_not_interpreted(renderer):
    text = pdftotext(renderer.render("letter", {**samples.LETTER, "name": "<b>花子</b>"}))
    assert "<b>花子</b> 様" in text


def test_an_unknown_template_is_refused(renderer):
    with pytest.raises(TemplateNotFound, match="letter, statement"):
        renderer.render("../statement", samples.STATEMENT)


def test_the_shipped_templates_are_the_ones_the_api_accepts(renderer):
    assert tuple(renderer.names()) == pdfbatch.TEMPLATES


@pytest.fixture
def probe_server():
    """An HTTP server on 127.0.0.1 that counts the requests it gets."""
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", services.free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


@pytest.fixture
def probe_templates(tmp_path):
    """A template that loads whatever URL its data names, beside a bundled asset."""
    folder = tmp_path / "templates" / "probe"
    folder.mkdir(parents=True)
    (folder / "template.html").write_text(
        '<html><head><link rel="stylesheet" href="own.css"></head>'
        '<body><p>本文</p><img src="{{ url }}"></body></html>')
    (folder / "own.css").write_text('p::after { content: "（同梱CSS）" }')
    (tmp_path / "templates" / "secret.txt").write_text("not for templates")
    return Renderer(root=tmp_path / "templates")


def test_a_template_loads_its_own_bundled_assets(probe_templates):
    pdf = probe_templates.render("probe", {"url": "data:image/gif;base64,R0lGODlhAQABAAAAACw="})
    assert "本文（同梱CSS）" in pdftotext(pdf)


@pytest.mark.parametrize("url", [
    "file:///etc/passwd",
    "file://{root}/probe/../secret.txt",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "https://example.com/logo.png",
    "{probe}/exfiltrate?x=1",
])
def test_a_template_cannot_fetch_outside_its_assets(probe_templates, probe_server, url):
    probe, hits = probe_server
    url = url.format(root=probe_templates.root, probe=probe)
    with pytest.raises(AssetRefused, match="refused to load"):
        probe_templates.render("probe", {"url": url})
    assert hits == []


def test_harfbuzz_check_names_the_package_when_the_subsetter_is_missing():
    ffi = SimpleNamespace(harfbuzz_subset=None, harfbuzz=None)
    with pytest.raises(RendererUnavailable, match="apt-get install libharfbuzz-subset0"):
        preflight.check_harfbuzz_subset(ffi)


def test_harfbuzz_check_refuses_a_harfbuzz_too_old_to_subset():
    old = SimpleNamespace(hb_version_atleast=lambda *version: False)
    with pytest.raises(RendererUnavailable, match="older than 4.1.0"):
        preflight.check_harfbuzz_subset(SimpleNamespace(harfbuzz_subset=object(), harfbuzz=old))


def test_harfbuzz_check_passes_on_this_machine():
    preflight.check_harfbuzz_subset()


def test_a_pdf_worker_refuses_to_start_without_the_harfbuzz_subsetter():
    # WeasyPrint found no libharfbuzz-subset: what it sees on a machine without the package.
    code = ("import weasyprint.text.ffi as ffi; ffi.harfbuzz_subset = None; "
            "from worker.main import main; raise SystemExit(main())")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env=services.python_env(WORKER_QUEUES="pdf"), timeout=60)
    assert run.returncode == 2
    assert "apt-get install libharfbuzz-subset0" in run.stderr


def test_templates_live_where_the_renderer_looks():
    assert sorted(p.name for p in TEMPLATES_DIR.iterdir() if p.is_dir()) == list(pdfbatch.TEMPLATES)
