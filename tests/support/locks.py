"""Requirements files and the lock files scripts/lock.sh writes from them, read as pip
reads them; and what an installed environment's own metadata says it needs."""
from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ("web", "worker", "flower", "autoscaler")
#: Each hand-edited requirements file and the lock written from it.
LOCKS = {
    ROOT / "requirements.txt": ROOT / "requirements.lock",
    ROOT / "requirements-aws.txt": ROOT / "requirements-aws.lock",
    ROOT / "requirements-tools.txt": ROOT / "requirements-tools.lock",
    **{ROOT / "docker" / "requirements" / f"{image}.txt":
       ROOT / "docker" / "requirements" / f"{image}.lock" for image in IMAGES},
}


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    marker: Marker | None
    hashes: tuple[str, ...]

    def applies(self) -> bool:
        """Whether pip installs this pin here (a lock covers every platform)."""
        return self.marker is None or self.marker.evaluate()


def logical_lines(text: str) -> list[str]:
    """Lines with comments dropped and backslash continuations joined."""
    joined = re.sub(r"\\\n", " ", "\n".join(line.split(" #")[0] for line in text.splitlines()))
    return [line.strip() for line in joined.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def read_lock(path: Path) -> dict[str, Pin]:
    pins = {}
    for line in logical_lines(path.read_text()):
        spec, *hashes = re.split(r"\s+--hash=", line)
        requirement = Requirement(spec)
        version = str(requirement.specifier).removeprefix("==")
        pins[canonicalize_name(requirement.name)] = Pin(
            canonicalize_name(requirement.name), version, requirement.marker, tuple(hashes))
    return pins


def read_requirements(path: Path) -> dict[str, Requirement]:
    """Top-level requirements by name, following ``-r other.txt``."""
    found = {}
    for line in logical_lines(path.read_text()):
        if line.startswith("-r "):
            found.update(read_requirements(path.parent / line[3:].strip()))
        else:
            requirement = Requirement(line)
            found[canonicalize_name(requirement.name)] = requirement
    return found


def pinned_version(requirement: Requirement) -> str | None:
    specifiers = list(requirement.specifier)
    if len(specifiers) == 1 and specifiers[0].operator == "==":
        return specifiers[0].version
    return None


def installed(site_packages: list[str] | None = None) -> dict[str, metadata.Distribution]:
    """Installed distributions by name: this interpreter's, or those in ``site_packages``."""
    found = metadata.distributions() if site_packages is None else \
        metadata.distributions(path=site_packages)
    return {canonicalize_name(d.metadata["Name"]): d for d in found}


def needed(requirements: dict[str, Requirement],
           distributions: dict[str, metadata.Distribution]) -> set[str]:
    """Every distribution ``requirements`` pull in here, by the installed packages' own
    Requires-Dist (extras followed); a name not installed ends its branch."""
    seen, todo = set(), [(name, frozenset(r.extras)) for name, r in requirements.items()]
    names = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        names.add(name)
        if name not in distributions:
            continue
        for line in distributions[name].requires or []:
            dependency = Requirement(line)
            if dependency.marker is None or any(
                    dependency.marker.evaluate({"extra": extra}) for extra in {"", *extras}):
                todo.append((canonicalize_name(dependency.name), frozenset(dependency.extras)))
    return names
