"""Imports point inward: the core and the autoscaler stay free of the web and
task frameworks, the web app never needs the renderer, the broker transport needs
only Celery and kombu, and nothing imports worker/."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORKS = {"flask", "flask_sqlalchemy", "flask_migrate", "celery", "kombu", "weasyprint"}


def imports_of(package: str) -> dict[str, set[str]]:
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize("package, banned", [
    ("core", FRAMEWORKS | {"webapp", "tasks", "worker", "stack"}),
    ("autoscaler", FRAMEWORKS | {"webapp", "tasks", "worker", "sqlalchemy", "psycopg"}),
    ("webapp", {"weasyprint", "worker"}),
    ("tasks", {"worker"}),
    ("broker", FRAMEWORKS - {"celery", "kombu"} | {"webapp", "tasks", "worker", "sqlalchemy",
                                                    "psycopg"}),
])
def test_package_does_not_import(package, banned):
    offenders = {path: sorted(n for n in names if n.split(".")[0] in banned)
                 for path, names in imports_of(package).items()}
    assert {p: n for p, n in offenders.items() if n} == {}


def test_the_web_app_imports_tasks_only_to_send_them():
    uses = {path: {n for n in names if n.split(".")[0] == "tasks"}
            for path, names in imports_of("webapp").items()}
    assert set().union(*uses.values()) <= {"tasks.app"}


def non_pdf_modules() -> list[str]:
    paths = [p for p in (ROOT / "tasks").rglob("*.py") if "pdf" not in p.relative_to(ROOT).parts]
    names = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
             for p in paths}
    return sorted(names | {"worker.main", "broker.sqs_fanout"})


@pytest.mark.parametrize("module", non_pdf_modules())
def test_only_pdf_code_loads_the_renderer(module):
    # A fresh interpreter: this one may have imported WeasyPrint for other tests.
    code = f"import sys, {module}; sys.exit('weasyprint' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr or f"importing {module} loads weasyprint"
