"""Properties of the repository itself: notebooks, README, dependencies and their lock, lint."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
LOCK = ROOT / "requirements.lock"
PROJECT = "optim-course"
# what `pip install .` must never pull in: test runners, linters, browser drivers, the locking tool
TOOLS = {"pytest", "nbval", "hypothesis", "ruff", "playwright", "uv"}


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


def test_a_plain_test_run_runs_every_notebook_once():
    """`./course test` without arguments runs every notebook exactly once: in the lab by its browser test where
    Chromium is here, else under nbval."""
    from tests.browser_lab import browser_ready

    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    ids = [line for line in result.stdout.splitlines() if "::" in line]
    by_nbval = {line.split("::")[0] for line in ids if ".ipynb::" in line}
    in_browser = {f"notebooks/{line.split('[')[1].rstrip(']')}.ipynb" for line in ids
                  if line.startswith("tests/test_browser.py::test_notebook_in_course_lab[")}
    names = {f"notebooks/{p.name}" for p in NOTEBOOKS}
    assert in_browser == names, f"notebooks without a browser test: {sorted(names - in_browser)}"
    # where the browser tests can run they run every notebook; elsewhere they skip, and nbval runs them all
    assert by_nbval == (set() if browser_ready() else names), f"nbval runs {sorted(by_nbval)}"


def readme_lesson_table_text() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("<!-- lesson-table:start -->")[1].split("<!-- lesson-table:end -->")[0]


def readme_lesson_table() -> list[str]:
    return re.findall(r"\]\(notebooks/([^)]+\.ipynb)\)", readme_lesson_table_text())


def test_readme_lesson_table_lists_exactly_the_notebooks_in_order():
    assert readme_lesson_table() == [p.name for p in NOTEBOOKS]


def study_hours(cell: str) -> float:
    """'15 min' or '2.5 h' as hours."""
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?) (min|h)", cell.strip()).groups()
    return float(number) / (60 if unit == "min" else 1)


def test_readme_lesson_table_labels_run_time_and_study_time_and_states_the_total():
    """Run time (measured) and study time (estimated) are different numbers; each column says which it is."""
    rows = [[cell.strip() for cell in line.strip("|").split("|")]
            for line in readme_lesson_table_text().strip().splitlines()]
    header, lessons = rows[0], [row for row in rows[2:] if row[0].isdigit()]
    assert header[-2:] == ["Run time (min, 2 cores)", "Study time (estimate)"], header
    assert all(float(row[-2]) > 0 for row in lessons)
    total = sum(study_hours(row[-1]) for row in lessons)
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    stated = float(re.search(r"about (\d+(?:\.\d+)?) h for the series", text).group(1))
    assert abs(stated - total) <= 0.5, f"the README says about {stated} h, the table adds up to {total:.2f} h"


# ---- dependencies: pyproject.toml declares, requirements.lock pins, environment.yml installs the lock ----

@cache
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def group_requirements(name: str) -> list[Requirement]:
    """One PEP 735 dependency group, with its included groups expanded."""
    reqs = []
    for item in pyproject()["dependency-groups"][name]:
        reqs += group_requirements(item["include-group"]) if isinstance(item, dict) else [Requirement(item)]
    return reqs


def declared() -> dict[str, list[Requirement]]:
    """Requirements by where they are declared: "runtime" and each dependency group."""
    out = {"runtime": [Requirement(r) for r in pyproject()["project"]["dependencies"]]}
    out |= {name: group_requirements(name) for name in pyproject()["dependency-groups"]}
    return out


def declared_names(*where: str) -> set[str]:
    return {canonicalize_name(r.name) for w in where for r in declared()[w]}


@cache
def lock_entries() -> list[dict]:
    """requirements.lock as entries: requirement (name==version ; marker), hashes, and the `# via` parents."""
    entries: list[dict] = []
    logical = ""
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            if entries and line.startswith("    #"):
                parent = stripped.lstrip("#").strip().removeprefix("via").strip()
                if parent:
                    entries[-1]["via"].append(parent)
            continue
        logical += stripped.removesuffix("\\").strip() + " "
        if stripped.endswith("\\") or not logical.strip():
            continue
        requirement, *options = logical.split(" --hash=")
        entries.append({"req": Requirement(requirement.strip()),
                        "hashes": [o.strip() for o in options], "via": []})
        logical = ""
    return entries


def locked_versions(name: str) -> list[Version]:
    return [Version(next(iter(e["req"].specifier)).version) for e in lock_entries()
            if canonicalize_name(e["req"].name) == canonicalize_name(name)]


def test_every_lock_entry_is_an_exact_pin_with_hashes():
    assert lock_entries(), "requirements.lock is empty; run ./course lock"
    for entry in lock_entries():
        specs = list(entry["req"].specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"not an exact pin: {entry['req']}"
        assert entry["hashes"] and all(h.startswith("sha256:") for h in entry["hashes"]), entry["req"]


@pytest.mark.parametrize("where", ["runtime", *pyproject()["dependency-groups"]])
def test_every_declared_dependency_is_locked_at_a_version_it_allows(where):
    for req in declared()[where]:
        versions = locked_versions(req.name)
        assert versions, f"{req} ({where}) is missing from requirements.lock; run ./course lock"
        bad = [str(v) for v in versions if not req.specifier.contains(v, prereleases=True)]
        assert not bad, f"requirements.lock pins {req.name}=={bad}, outside {req} ({where}); run ./course lock"


def test_every_direct_dependency_in_the_lock_is_still_declared():
    everything = declared_names(*declared())
    stale = [str(e["req"]) for e in lock_entries()
             if any(parent.startswith(f"{PROJECT} (pyproject.toml") for parent in e["via"])
             and canonicalize_name(e["req"].name) not in everything]
    assert not stale, f"locked as direct dependencies but no longer in pyproject.toml: {stale}; run ./course lock"


def runtime_closure() -> set[str]:
    """Names the lock installs because of the runtime dependencies alone, following the `# via` annotations."""
    parents = {canonicalize_name(e["req"].name): e["via"] for e in lock_entries()}
    reached = {name for name, via in parents.items() if f"{PROJECT} (pyproject.toml)" in via}
    grew = True
    while grew:
        new = {name for name, via in parents.items()
               if name not in reached and any(canonicalize_name(p.split(" ")[0]) in reached for p in via)}
        reached |= new
        grew = bool(new)
    return reached


def test_installing_the_package_pulls_in_no_test_lint_or_browser_tool():
    assert not declared_names("runtime") & TOOLS, f"runtime dependencies: {declared_names('runtime') & TOOLS}"
    closure = runtime_closure()
    assert "torch" in closure and "jupyterlab" in closure, "the `# via` annotations of the lock were not read"
    assert not closure & TOOLS, f"`pip install .` would install {sorted(closure & TOOLS)}"


def test_unlocked_installs_stay_on_the_locked_torch_minor_release():
    """The torch/torchvision ranges admit the locked release but not the next minor one, never measured here."""
    runtime = {canonicalize_name(r.name): r for r in declared()["runtime"]}
    for name in ("torch", "torchvision"):
        for version in locked_versions(name):
            assert runtime[name].specifier.contains(version)
            assert not runtime[name].specifier.contains(f"{version.major}.{version.minor + 1}.0"), runtime[name]


def pip_constraint_files() -> list[Path]:
    """The constraint files pip applies here, from its configuration files and PIP_CONSTRAINT."""
    listing = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    values = re.findall(r"^[^.\n]*\.constraint='(.*)'$", listing, flags=re.MULTILINE)
    return [Path(p) for value in values for p in value.split() if Path(p).is_file()]


def test_the_lock_respects_the_constraints_pip_is_configured_with_here():
    """E.g. a cap at the torch wheels on this machine's disk: installing the lock must not fight it."""
    files = pip_constraint_files()
    if not files:
        pytest.skip("pip has no configured constraint files on this machine")
    for path in files:
        for line in path.read_text().splitlines():
            line = line.split("#")[0].strip()
            if not line:
                continue
            constraint = Requirement(line)
            bad = [str(v) for v in locked_versions(constraint.name) if not constraint.specifier.contains(v)]
            assert not bad, f"requirements.lock pins {constraint.name}=={bad}; {path} allows {constraint}"


def environment_yml() -> tuple[list[str], list[str]]:
    """(conda packages, pip lines) of environment.yml."""
    text = (ROOT / "environment.yml").read_text(encoding="utf-8")
    conda_part, pip_part = text.split("dependencies:")[1].split("- pip:")
    items = [line.strip()[2:].strip() for line in conda_part.splitlines() if line.strip().startswith("- ")]
    pip_lines = [line.strip()[2:].strip() for line in pip_part.splitlines() if line.strip().startswith("- ")]
    return items, pip_lines


def test_environment_yml_installs_the_lock_and_nothing_else():
    conda_packages, pip_lines = environment_yml()
    assert "-r requirements.lock" in pip_lines, "environment.yml must install requirements.lock"
    assert [line for line in pip_lines if not line.startswith("-")] == [], "pip packages outside the lock"
    names = {re.split(r"[=<>! ]", item)[0] for item in conda_packages}
    assert names <= {"python", "pip"}, f"conda packages outside the lock: {names - {'python', 'pip'}}"
    python = next(item for item in conda_packages if item.startswith("python"))
    version = re.split(r"[=<>]+", python, maxsplit=1)[1]
    assert Requirement(f"python{pyproject()['project']['requires-python']}").specifier.contains(version)


# ---- imports: every package the code imports is declared where that code runs ----

def imported_modules(sources: Iterable[str]) -> set[str]:
    """Top-level names of every absolute import in the given Python sources."""
    names = set()
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def notebook_sources() -> list[str]:
    sources = []
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code":
                lines = "".join(cell["source"]).splitlines()
                sources.append("\n".join(line for line in lines if not line.lstrip().startswith(("%", "!"))))
    return sources


def python_files(folder: Path) -> list[Path]:
    """The .py files under ``folder``, leaving out virtual environments and node_modules kept inside it."""
    skip = {venv.parent for venv in folder.rglob("pyvenv.cfg")} | set(folder.rglob("node_modules"))
    return sorted(f for f in folder.rglob("*.py") if not skip & set(f.parents))


def python_sources(*paths: str) -> list[str]:
    files = [f for p in paths for f in ([ROOT / p] if p.endswith(".py") else python_files(ROOT / p))]
    return [f.read_text(encoding="utf-8") for f in files]


def undeclared(modules: set[str], allowed: set[str], local: set[str]) -> list[str]:
    providers = packages_distributions()
    missing = []
    for module in sorted(modules - set(sys.stdlib_module_names) - local):
        dists = {canonicalize_name(d) for d in providers.get(module, [])}
        if not dists & allowed:
            missing.append(f"{module} (from {sorted(dists) or 'no installed distribution'})")
    return missing


# the repository's own folders and modules, importable by scripts that put their folder on sys.path
LOCAL = ({p.name for p in ROOT.iterdir() if p.is_dir()} | {p.stem for p in ROOT.glob("*.py")}
         | {p.stem for folder in ("bench", "hub") if (ROOT / folder).is_dir() for p in (ROOT / folder).glob("*.py")})


@pytest.mark.parametrize(("code", "groups"), [
    ("lessons_src", ["runtime"]),
    ("notebooks", ["runtime"]),
    ("tests", ["runtime", "test"]),
    ("bench", ["runtime", "bench"]),
    ("hub", ["runtime", "hub"]),
])
def test_every_import_is_a_declared_dependency(code, groups):
    if not (ROOT / code).is_dir():
        pytest.skip(f"no {code}/ folder")
    sources = notebook_sources() if code == "notebooks" else python_sources(code)
    if code == "tests":
        sources += python_sources("conftest.py")
    missing = undeclared(imported_modules(sources), declared_names(*groups), LOCAL)
    assert not missing, f"{code}/ imports packages not declared in pyproject.toml ({' or '.join(groups)}): {missing}"


def test_ruff_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is not installed"
    targets = [p for p in ("lessons_src", "tests", "notebooks", "bench", "hub", "conftest.py") if (ROOT / p).exists()]
    result = subprocess.run([ruff, "check", *targets], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_teaching_table_names_the_lessons_that_hold_the_explorers():
    """Each explorer row's lesson number is a notebook with live widgets, and every such lesson has a row."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("## Teaching with it")[1].split("\n\n")[2]
    named = set(re.findall(r"^\| \*\*[^*]+\*\* \((\d\d)\) \|", table, flags=re.MULTILINE))
    live = {p.name[:2] for p in NOTEBOOKS
            if p.name[:2] != "00" and "%matplotlib widget" in p.read_text(encoding="utf-8")}
    assert named and named == live, f"the table names lessons {sorted(named)}, the explorers are in {sorted(live)}"
