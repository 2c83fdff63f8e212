"""Test-run rules that apply to the unit tests and to every notebook nbval executes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import uncollected_notebooks, usage_errors

ROOT = Path(__file__).resolve().parent
NOTEBOOKS = ROOT / "notebooks"

pytest_plugins = ["pytester"]


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
