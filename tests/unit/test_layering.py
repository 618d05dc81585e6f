"""Imports point inward: the core and the autoscaler stay free of the web and
task frameworks; the data layer (store/) and the services stand below both the
web app and the tasks, which never import each other; the broker knows no jobs;
the web app never needs the renderer; and nothing imports worker/."""
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


OUTER = {"webapp", "tasks", "worker", "stack", "lambdas", "broker", "service", "store"}


@pytest.mark.parametrize("package, banned", [
    ("core", FRAMEWORKS | OUTER),
    ("autoscaler", FRAMEWORKS | OUTER | {"sqlalchemy", "psycopg"}),
    ("store", FRAMEWORKS | OUTER - {"store"}),
    ("service", FRAMEWORKS | OUTER - {"store", "service"}),
    ("broker", {"flask", "flask_sqlalchemy", "flask_migrate", "weasyprint", "sqlalchemy",
                "psycopg"} | OUTER - {"broker"}),
    ("webapp", {"weasyprint", "celery", "kombu", "tasks", "worker", "lambdas", "stack"}),
    ("tasks", {"flask", "flask_sqlalchemy", "flask_migrate", "flask_login", "webapp", "worker",
               "lambdas", "stack"}),
    ("lambdas", {"flask", "flask_sqlalchemy", "flask_migrate", "flask_login", "webapp",
                 "tasks", "worker", "stack"}),
])
def test_package_does_not_import(package, banned):
    offenders = {path: sorted(n for n in names if n.split(".")[0] in banned)
                 for path, names in imports_of(package).items()}
    assert {p: n for p, n in offenders.items() if n} == {}


def test_the_web_app_reaches_celery_only_through_the_enqueuer():
    uses = {path: {n for n in names if n.split(".")[0] == "broker"}
            for path, names in imports_of("webapp").items()}
    assert set().union(*uses.values()) <= {"broker.enqueue"}


def test_the_autoscaler_takes_from_core_only_its_standard_library_reader_and_metrics():
    import sys
    from_core = {n for names in imports_of("autoscaler").values() for n in names
                 if n.split(".")[0] == "core"}
    assert from_core <= {"core.env", "core.metrics"}
    for module in ("core/env.py", "core/metrics.py"):
        imported = imports_of("core")[module] - {"__future__"}
        assert {n for n in imported if n.split(".")[0] not in sys.stdlib_module_names} == set()
    assert not any(n.split(".")[0] == "autoscaler"
                   for names in imports_of("core").values() for n in names)


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
