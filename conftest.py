"""Test-run rules that apply to the unit tests, to every notebook nbval executes, and to which runs each notebook."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser_lab import browser_ready
from tests.harness import run_in_the_browser, uncollected_notebooks, usage_errors

ROOT = Path(__file__).resolve().parent
NOTEBOOKS = ROOT / "notebooks"

pytest_plugins = ["pytester"]
# the 中文 and 日本語 editions: their code is the English code, checked string by string (tests/test_editions.py),
# and the browser tests run lesson 01 of each; nbval runs them only when asked by path (./course test notebooks/zh)
EDITIONS = {NOTEBOOKS / "zh", NOTEBOOKS / "ja"}


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave the editions' folders out of a plain run; collect them when a path inside them was asked for."""
    if collection_path not in EDITIONS:
        return None
    asked = [Path(config.invocation_params.dir, arg.split("::")[0]).resolve() for arg in config.args]
    return None if any(path == collection_path or collection_path in path.parents for path in asked) else True


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    """Fail the run if a notebook in notebooks/ was asked for but not collected by nbval."""
    missing = uncollected_notebooks(
        requested=[Path(config.invocation_params.dir, arg.split("::")[0]) for arg in config.args],
        collected=[Path(item.path) for item in items],
        notebooks_dir=NOTEBOOKS,
    )
    if missing:
        names = ", ".join(path.name for path in missing)
        raise pytest.UsageError(f"these notebooks were not collected by nbval: {names}")


class RunEachNotebookOnce:
    """Where an English notebook's browser test is selected (after -k and -m) and can run (Chromium and Playwright
    are here), that test runs every cell in the lab from a fresh kernel and fails on any error; nbval's run of the
    same cells is then left out (reported as deselected). `./course test notebooks/X.ipynb` runs X under nbval.
    A browser test that then skips leaves its notebook unrun: that fails the run."""

    def __init__(self) -> None:
        self.taken_over: set[str] = set()  # the browser tests whose notebooks nbval left out
        self.unrun: list[str] = []

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list) -> None:
        if not browser_ready():
            return
        runs = run_in_the_browser((item.nodeid for item in items), NOTEBOOKS)
        twice = [item for item in items if item.path.suffix == ".ipynb" and item.path.resolve() in runs.values()]
        if twice:
            handed_over = {item.path.resolve() for item in twice}
            self.taken_over = {nodeid for nodeid, notebook in runs.items() if notebook in handed_over}
            config.hook.pytest_deselected(items=twice)
            dropped = set(twice)
            items[:] = [item for item in items if item not in dropped]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and report.nodeid in self.taken_over:
            self.unrun.append(report.nodeid)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.unrun:
            terminalreporter.write_line("these notebooks ran nowhere: their browser tests skipped, and nbval left them "
                                        "to those tests: " + ", ".join(self.unrun), red=True)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.unrun:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(RunEachNotebookOnce(), "run-each-notebook-once")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """nbval passes a cell whose magic IPython rejected; make that cell fail."""
    result = yield
    errors = usage_errors(getattr(item, "test_outputs", None) or [])
    if errors:
        pytest.fail("IPython reported a UsageError:\n" + "\n".join(errors), pytrace=False)
    return result
