"""Rules about the repository itself: notebooks, README, dependency files, lint."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks_and_their_names_are_numbered():
    assert NOTEBOOKS, "notebooks/ is empty"
    for path in NOTEBOOKS:
        assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    dirty = [i for i, c in enumerate(cells)
             if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing"


def readme_lesson_table() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("<!-- lesson-table:start -->")[1].split("<!-- lesson-table:end -->")[0]
    return re.findall(r"\]\(notebooks/([^)]+\.ipynb)\)", table)


def test_readme_lesson_table_lists_exactly_the_notebooks_in_order():
    assert readme_lesson_table() == [p.name for p in NOTEBOOKS]


def requirement_names(lines) -> list[str]:
    names = []
    for line in lines:
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.append(Requirement(line).name.lower())
    return names


def test_environment_yml_takes_its_packages_from_requirements_txt():
    text = (ROOT / "environment.yml").read_text(encoding="utf-8")
    pip_section = text.split("- pip:")[1]
    entries = [line.strip()[2:].strip() for line in pip_section.splitlines() if line.strip().startswith("- ")]
    assert "-r requirements.txt" in entries
    assert requirement_names(e for e in entries if not e.startswith("-")) == []
    conda_lines = text.split("dependencies:")[1].split("- pip:")[0]
    conda_names = {re.split(r"[=<> ]", line.strip()[2:])[0] for line in conda_lines.splitlines()
                   if line.strip().startswith("- ")}
    assert conda_names <= {"python", "pip"}, f"packages listed outside requirements.txt: {conda_names}"


def test_pyproject_reads_requirements_txt():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "dependencies" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["dependencies"]["file"] == ["requirements.txt"]


def test_torch_ranges_admit_the_local_wheels_and_nothing_newer():
    reqs = {r.name: r for r in map(Requirement, (
        line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.split("#")[0].strip()))}
    assert reqs["torch"].specifier.contains("2.14.1") and not reqs["torch"].specifier.contains("2.15.0")
    assert reqs["torchvision"].specifier.contains("0.29.1")
    assert not reqs["torchvision"].specifier.contains("0.30.0")
    for name in ("torch", "torchvision", "jupyterlab", "matplotlib", "ipywidgets", "nbval", "ipympl"):
        assert name in reqs


def test_ruff_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is not installed"
    targets = [p for p in ("lessons_src", "tests", "notebooks", "bench", "conftest.py") if (ROOT / p).exists()]
    result = subprocess.run([ruff, "check", *targets], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
