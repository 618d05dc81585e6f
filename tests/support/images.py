"""Reading Dockerfiles and checking that the commands images run are the project's own.

No Docker engine is needed: a Dockerfile is parsed into instructions, and a
command (CMD, ENTRYPOINT, HEALTHCHECK, compose ``command:``, an ECS container
command, a Lambda handler) is checked against the repository and the
installed console entry points.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import shlex
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))

#: Handlers that deploy/template.yaml names before their modules are in this
#: tree. A listed handler whose module exists is checked like any other; once
#: it exists, empty this set.
EXPECTED_BUT_ABSENT_HANDLERS = frozenset()
#: Paths an image copies before they are in this tree.
EXPECTED_BUT_ABSENT_PATHS = frozenset()


@dataclass
class Stage:
    """One build stage: its base image, name and instructions (keyword, argument text)."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)


def parse_dockerfile(path: Path) -> list[Stage]:
    """The stages of a Dockerfile, with line continuations joined and comments dropped."""
    stages: list[Stage] = []
    for line in _logical_lines(path.read_text()):
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        else:
            stages[-1].instructions.append((keyword, rest))
    return stages


def _logical_lines(text: str):
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        yield (pending + line).strip()
        pending = ""


def exec_form(text: str) -> list[str]:
    """``["a", "b"]`` → ["a", "b"]; a shell form is split like a shell would."""
    text = text.strip()
    return json.loads(text) if text.startswith("[") else shlex.split(text)


def copied_sources(stage: Stage) -> list[str]:
    """Build-context paths a stage copies (``COPY --from`` copies from a stage, not the context)."""
    sources = []
    for keyword, rest in stage.instructions:
        if keyword not in ("COPY", "ADD"):
            continue
        words = exec_form(rest)
        if any(w.startswith("--from=") for w in words):
            continue
        words = [w for w in words if not w.startswith("--")]
        sources.extend(words[:-1])
    return sources


def commands(stage: Stage) -> dict[str, list[str]]:
    """The final stage's CMD, ENTRYPOINT and HEALTHCHECK command, as argv lists."""
    found = {}
    for keyword, rest in stage.instructions:
        if keyword in ("CMD", "ENTRYPOINT"):
            found[keyword] = exec_form(rest)
        elif keyword == "HEALTHCHECK":
            found[keyword] = exec_form(rest[rest.index("CMD") + 3:])
    return found


# --- is a command one the project defines? ------------------------------------

def problem_with(argv: list[str]) -> str | None:
    """None when ``argv`` runs something this project defines, else what is wrong."""
    if argv and argv[0] in ("CMD", "CMD-SHELL"):
        argv = argv[1:] if argv[0] == "CMD" else shlex.split(argv[1])
    if not argv:
        return "empty command"
    program, args = argv[0], argv[1:]
    if program == "python":
        return _python(args)
    if len(argv) == 1 and "." in program and "/" not in program:
        return problem_with_handler(program)
    if not entry_points(group="console_scripts", name=program):
        return f"{program!r} is neither `python -m` nor an installed console command"
    check = {"gunicorn": _gunicorn, "celery": _celery, "flask": _flask}.get(program)
    return check(args) if check else f"no check knows what {program!r} runs"


def _python(args: list[str]) -> str | None:
    if len(args) < 2 or args[0] != "-m":
        return f"python {' '.join(args)}: only `python -m <module>` is expected"
    module = args[1]
    if module == "awslambdaric":
        if importlib.util.find_spec("awslambdaric") is None:
            return "awslambdaric is not installed"
        return problem_with_handler(args[2]) if len(args) > 2 else None
    return _runnable_module(module)


def _runnable_module(module: str) -> str | None:
    path = project_module(module)
    if path is None:
        return f"no module {module} in the repository"
    if path.name == "__init__.py":
        main = path.with_name("__main__.py")
        return None if main.exists() else f"package {module} has no __main__.py"
    if '__name__ == "__main__"' not in path.read_text():
        return f"{module} does not run as a script (no __main__ block)"
    return None


def project_module(module: str) -> Path | None:
    """The file of a module of this repository, or None."""
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.exists():
            return candidate
    return None


def defines(path: Path, name: str) -> bool:
    """Whether a module assigns or defines ``name`` at its top level."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return True
    return False


def problem_with_handler(handler: str) -> str | None:
    """A Lambda handler ``package.module.function`` must be defined, or expected."""
    module, _, function = handler.rpartition(".")
    path = project_module(module)
    if path is None:
        if handler in EXPECTED_BUT_ABSENT_HANDLERS:
            return None
        return f"handler {handler}: no module {module} in the repository"
    return None if defines(path, function) else f"handler {handler}: {module} has no {function}"


def _attribute(spec: str) -> str | None:
    """``module:attr`` or ``module:factory()`` must name something the module defines."""
    module, _, attr = spec.partition(":")
    path = project_module(module)
    if path is None:
        return f"no module {module} in the repository"
    attr = attr.removesuffix("()") or "app"
    return None if defines(path, attr) else f"{module} defines no {attr}"


def _gunicorn(args: list[str]) -> str | None:
    return _attribute(args[-1])


def _celery(args: list[str]) -> str | None:
    if "--app" not in args:
        return "celery without --app"
    return _attribute(args[args.index("--app") + 1])


def _flask(args: list[str]) -> str | None:
    if "--app" not in args:
        return "flask without --app"
    problem = _attribute(args[args.index("--app") + 1] + ":create_app()")
    if problem or "-d" not in args:
        return problem
    directory = args[args.index("-d") + 1]
    return None if (ROOT / directory / "env.py").exists() else f"no migrations in {directory}"
