"""Installs are reproducible: each lock file pins every package its requirements file
pulls in, no more, each with its hashes; the virtualenvs run the locked versions; the
images run the versions the tests ran; and every package the code imports is declared.
A failure here is fixed by `make lock` (after editing a requirements file) or
`scripts/bootstrap.sh` (to install what the lock says)."""
from __future__ import annotations

import ast
import os
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tests.support.locks import (IMAGES, LOCKS, ROOT, Pin, installed, needed, pinned_version,
                                 read_lock, read_requirements)

MAIN_LOCK = ROOT / "requirements.lock"
#: The virtualenvs scripts/bootstrap.sh installs from each lock (None: this interpreter's).
VENVS = {
    "requirements.txt": None,
    "requirements-aws.txt": os.environ.get("AWS_VENV", ".venv-aws"),
    "requirements-tools.txt": os.environ.get("TOOLS_VENV", ".venv-tools"),
}


def lagging_pins(requirements_path: Path, lock_path: Path) -> dict[str, str]:
    """Each requirement the lock does not hold at the version the requirements file pins."""
    lock = read_lock(lock_path)
    problems = {}
    for name, requirement in read_requirements(requirements_path).items():
        version = pinned_version(requirement)
        if version is None:
            problems[name] = f"{requirement} is not pinned with =="
        elif name not in lock:
            problems[name] = f"{version} is not in {lock_path.name}"
        elif lock[name].version != version:
            problems[name] = f"{version} is locked at {lock[name].version}"
    return problems


def unhashed(lock_path: Path) -> list[str]:
    return sorted(name for name, pin in read_lock(lock_path).items()
                  if not pin.hashes or not all(h.startswith("sha256:") for h in pin.hashes))


def drift(requirements_path: Path, lock: dict[str, Pin],
          distributions: dict[str, metadata.Distribution]) -> dict[str, list[str]]:
    """How a lock differs from what its requirements need here (by the installed
    packages' own metadata), and how the installed versions differ from the lock."""
    want = needed(read_requirements(requirements_path), distributions)
    locked = {name for name, pin in lock.items() if pin.applies()}
    return {
        "needed but not locked (make lock)": sorted(want - locked),
        "locked but needed by nothing (make lock)": sorted(locked - want),
        "installed at another version than locked (scripts/bootstrap.sh)": sorted(
            f"{name}: locked {lock[name].version}, installed "
            f"{distributions[name].version if name in distributions else 'nothing'}"
            for name in locked & want
            if name not in distributions or distributions[name].version != lock[name].version),
    }


def site_packages(venv: str) -> list[str]:
    found = [str(p) for p in (ROOT / venv).glob("lib/python*/site-packages")]
    assert found, f"no virtualenv at {venv}: run scripts/bootstrap.sh --test"
    return found


# --- the locks against their requirements files --------------------------------------

@pytest.mark.parametrize("requirements, lock", LOCKS.items(), ids=lambda p: p.name)
def test_no_pin_is_edited_without_relocking(requirements, lock):
    assert lagging_pins(requirements, lock) == {}, "run make lock"


def test_a_pin_edited_without_relocking_is_caught(tmp_path):
    (tmp_path / "requirements.txt").write_text("flask==9.9\nidna>=3\nwerkzeug==3.1.9\n")
    (tmp_path / "requirements.lock").write_text(
        "flask==3.1.3 \\\n    --hash=sha256:ab\n    # via -r requirements.txt\n")
    assert lagging_pins(tmp_path / "requirements.txt", tmp_path / "requirements.lock") == {
        "flask": "9.9 is locked at 3.1.3",
        "idna": "idna>=3 is not pinned with ==",
        "werkzeug": "3.1.9 is not in requirements.lock",
    }


@pytest.mark.parametrize("lock", LOCKS.values(), ids=lambda p: p.name)
def test_every_locked_package_is_hashed(lock):
    assert read_lock(lock), f"{lock.name} pins nothing"
    assert unhashed(lock) == [], "pip --require-hashes refuses these: run make lock"


def test_an_unhashed_lock_entry_is_caught(tmp_path):
    (tmp_path / "x.lock").write_text(
        "flask==3.1.3 \\\n    --hash=sha256:ab \\\n    --hash=sha256:cd\n"
        "    # via x\nidna==3.20 ; python_version >= '3'\n    # via flask\n")
    assert unhashed(tmp_path / "x.lock") == ["idna"]


@pytest.mark.parametrize("requirements", VENVS)
def test_a_lock_holds_what_its_requirements_need_and_its_venv_runs_it(requirements):
    venv = VENVS[requirements]
    distributions = installed(None if venv is None else site_packages(venv))
    found = drift(ROOT / requirements, read_lock(LOCKS[ROOT / requirements]), distributions)
    assert found == {kind: [] for kind in found}


def test_a_stale_or_missing_lock_entry_is_caught(tmp_path):
    (tmp_path / "requirements.txt").write_text("flask==3.1.3\n")
    lock = {name: pin for name, pin in read_lock(MAIN_LOCK).items() if name != "werkzeug"}
    found = drift(tmp_path / "requirements.txt", lock, installed())
    assert found["needed but not locked (make lock)"] == ["werkzeug"]
    assert "boto3" in found["locked but needed by nothing (make lock)"]


@pytest.mark.parametrize("image", IMAGES)
def test_an_image_runs_the_versions_the_tests_ran(image):
    tested = {name: pin.version for name, pin in read_lock(MAIN_LOCK).items()}
    image_lock = read_lock(ROOT / "docker" / "requirements" / f"{image}.lock")
    assert {name: pin.version for name, pin in image_lock.items()
            if tested.get(name) != pin.version} == {}, "run make lock"


# --- the code's imports against requirements.txt ---------------------------------------

PROJECT = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()} | \
          {p.stem for p in ROOT.glob("*.py")}


def imported_top_level_names(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def undeclared_imports(sources: dict[str, str], declared: set[str],
                       providers: dict[str, list[str]]) -> dict[str, str]:
    """Each third-party module the sources import that no declared distribution provides,
    with the files that import it."""
    found: dict[str, set[str]] = {}
    for path, source in sources.items():
        for name in imported_top_level_names(source) - PROJECT - set(sys.stdlib_module_names):
            if not {canonicalize_name(d) for d in providers.get(name, [])} & declared:
                found.setdefault(name, set()).add(path)
    return {name: f"{', '.join(providers.get(name, ['no installed distribution']))}"
                  f" (imported by {', '.join(sorted(paths))})" for name, paths in found.items()}


def project_sources() -> dict[str, str]:
    paths = [p for p in ROOT.rglob("*.py")
             if not any(part.startswith(".") or part == "node_modules"
                        for part in p.relative_to(ROOT).parts)]
    return {str(p.relative_to(ROOT)): p.read_text() for p in paths}


def test_every_third_party_package_the_code_imports_is_declared():
    declared = set(read_requirements(ROOT / "requirements.txt"))
    assert undeclared_imports(project_sources(), declared, metadata.packages_distributions()) \
        == {}, "declare these in requirements.txt (pinned to the installed version), then make lock"


def test_an_import_only_a_dependency_brings_in_is_caught():
    sources = {"tasks/pdf/x.py": "import pydyf\nfrom fontTools.ttLib import TTFont\n"
                                 "import json, tasks.app\nfrom . import sibling\n"}
    providers = {"pydyf": ["pydyf"], "fontTools": ["fonttools"], "weasyprint": ["weasyprint"]}
    assert undeclared_imports(sources, {"weasyprint", "fonttools"}, providers) == {
        "pydyf": "pydyf (imported by tasks/pdf/x.py)"}
