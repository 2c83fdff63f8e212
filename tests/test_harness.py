"""The conftest rules can fail: an uncollected notebook and an IPython UsageError are caught."""

from __future__ import annotations

import json
from pathlib import Path

from tests.harness import uncollected_notebooks, usage_errors

ROOT = Path(__file__).resolve().parents[1]


def test_uncollected_notebooks(tmp_path):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    a, b = nbdir / "00_a.ipynb", nbdir / "01_b.ipynb"
    a.touch()
    b.touch()
    assert uncollected_notebooks([tmp_path], [a, b], nbdir) == []
    assert uncollected_notebooks([tmp_path], [a], nbdir) == [b.resolve()]
    assert uncollected_notebooks([nbdir], [], nbdir) == [a.resolve(), b.resolve()]
    assert uncollected_notebooks([a], [a], nbdir) == []
    assert uncollected_notebooks([tmp_path / "tests"], [], nbdir) == []


def test_usage_errors_are_found_in_stream_text():
    outputs = [{"output_type": "stream", "name": "stderr",
                "text": "UsageError: Line magic function `%nosuch` not found.\n"},
               {"output_type": "stream", "name": "stdout", "text": "fine\n"}]
    assert usage_errors(outputs) == ["UsageError: Line magic function `%nosuch` not found."]
    assert usage_errors(outputs[1:]) == []


def write_notebook(path: Path, sources: list[str]) -> None:
    cells = [{"id": f"cell-{i}", "cell_type": "code", "metadata": {}, "source": s, "outputs": [],
              "execution_count": None} for i, s in enumerate(sources)]
    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb), encoding="utf-8")


def test_a_notebook_with_an_unknown_magic_fails_under_our_conftest(pytester, monkeypatch):
    pytester.makeconftest((ROOT / "conftest.py").read_text(encoding="utf-8"))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    (pytester.path / "notebooks").mkdir()
    write_notebook(pytester.path / "notebooks" / "00_bad.ipynb", ["x = 1", "%no_such_magic"])
    write_notebook(pytester.path / "notebooks" / "01_good.ipynb", ["y = 2\nassert y == 2"])
    result = pytester.runpytest_subprocess("--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
                                           "notebooks")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*UsageError*no_such_magic*"])


def test_an_uncollected_notebook_stops_the_run(pytester, monkeypatch):
    pytester.makeconftest((ROOT / "conftest.py").read_text(encoding="utf-8"))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    (pytester.path / "notebooks").mkdir()
    write_notebook(pytester.path / "notebooks" / "00_a.ipynb", ["x = 1"])
    result = pytester.runpytest_subprocess("-p", "no:nbval", "-p", "no:cacheprovider", "notebooks")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*not collected by nbval: 00_a.ipynb*"])



