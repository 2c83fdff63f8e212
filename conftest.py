"""Test-run rules that apply to the unit tests and to every notebook nbval executes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import uncollected_notebooks, usage_errors

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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """nbval passes a cell whose magic IPython rejected; make that cell fail."""
    result = yield
    errors = usage_errors(getattr(item, "test_outputs", None) or [])
    if errors:
        pytest.fail("IPython reported a UsageError:\n" + "\n".join(errors), pytrace=False)
    return result
