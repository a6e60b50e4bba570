"""The stream task's image installs stream_task/requirements.txt and nothing else from PyPI: every package
that the task's code imports, following its imports through `stream_task` and `playout`, must come with
what that file lists (directly or as a dependency), or the container fails at its first import in AWS
while every test here, run in the development venv, passes."""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
REQUIREMENTS = REPO / "stream_task" / "requirements.txt"
OUR_PACKAGES = {"stream_task": REPO / "stream_task", "playout": REPO / "layers" / "playout"}


def _module_file(name: str) -> Path | None:
    top, *rest = name.split(".")
    if top not in OUR_PACKAGES:
        return None
    base = OUR_PACKAGES[top].joinpath(*rest)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _third_party_imports_of_the_task() -> set[str]:
    """Top-level names of what `python -m stream_task` imports from outside our packages."""
    seen: set[Path] = set()
    pending = [REPO / "stream_task" / "__main__.py"]
    outside: set[str] = set()
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imports_of(path):
            top = name.split(".")[0]
            if top in OUR_PACKAGES:
                found = _module_file(name)
                if found is not None:
                    pending.append(found)
            elif top not in sys.stdlib_module_names and top != "__future__":
                outside.add(top)
    return outside


def _distributions_installed_by(requirements: Path) -> set[str]:
    """The listed distributions and everything they require (for this Python, without extras)."""
    wanted = [
        re.split(r"[<>=!~\[; ]", line.strip(), maxsplit=1)[0]
        for line in requirements.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    installed: set[str] = set()
    while wanted:
        name = wanted.pop().lower().replace("_", "-")
        if name in installed:
            continue
        installed.add(name)
        for requirement in metadata.requires(name) or []:
            requirement_name, _, marker = requirement.partition(";")
            if "extra ==" in marker:
                continue
            wanted.append(re.split(r"[<>=!~\[ (]", requirement_name.strip(), maxsplit=1)[0])
    return installed


def test_every_package_the_task_imports_is_installed_in_its_image() -> None:
    providers = metadata.packages_distributions()
    installed = _distributions_installed_by(REQUIREMENTS)
    missing = {
        name: providers.get(name, ["?"])
        for name in _third_party_imports_of_the_task()
        if not {d.lower().replace("_", "-") for d in providers.get(name, [])} & installed
    }
    assert not missing, f"imported by the stream task but not in {REQUIREMENTS.name}: {missing}"
