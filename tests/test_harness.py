"""The test harness can fail: an uncollected notebook and an IPython UsageError are caught, and the browser
tests' REST client retries only what it should."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.harness import run_in_the_browser, uncollected_notebooks, usage_errors

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


def test_the_notebooks_the_browser_tests_run_are_named_by_their_test_ids(tmp_path):
    ids = ["tests/test_browser.py::test_notebook_in_course_lab[01_gradient_descent]",
           "tests/test_browser.py::test_a_translated_edition_in_course_lab_with_the_interface_in_its_language[zh]",
           "notebooks/02_backprop_autograd.ipynb::Cell 0", "tests/test_repo.py::test_x[01_gradient_descent]"]
    assert run_in_the_browser(ids, tmp_path) == {ids[0]: (tmp_path / "01_gradient_descent.ipynb").resolve()}
    assert run_in_the_browser(ids[1:], tmp_path) == {}


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


def test_a_notebook_whose_browser_test_skips_fails_the_run(pytester, monkeypatch):
    """nbval leaves a notebook to its browser test; if that test skips, the notebook ran nowhere: the run fails."""
    from tests.browser_lab import browser_ready

    if not browser_ready():
        pytest.skip("the hand-over to the browser tests happens only where they can run")
    pytester.makeconftest((ROOT / "conftest.py").read_text(encoding="utf-8"))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    (pytester.path / "notebooks").mkdir()
    write_notebook(pytester.path / "notebooks" / "00_a.ipynb", ["x = 1"])
    write_notebook(pytester.path / "notebooks" / "01_b.ipynb", ["y = 2"])
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_browser.py").write_text(
        "import pytest\n\n@pytest.mark.parametrize('stem', ['00_a'])\n"
        "def test_notebook_in_course_lab(stem):\n    pytest.skip('no browser today')\n", encoding="utf-8")
    result = pytester.runpytest_subprocess("--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
                                           "-rs", "tests", "notebooks")
    result.assert_outcomes(passed=1, skipped=1, deselected=1)  # 01_b under nbval; 00_a left to its browser test
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*ran nowhere*test_notebook_in_course_lab?00_a?*"])


def test_the_lab_api_asks_again_after_a_server_error_on_get():
    """The browser tests' REST client retries a GET that met a 5xx (a server starting a kernel can answer 500),
    and raises at once on a 4xx or on a failed DELETE."""
    import http.server
    import threading
    import urllib.error

    from tests.browser_lab import Lab

    answers = {"GET": [500, 500, 200], "DELETE": [500]}

    class Handler(http.server.BaseHTTPRequestHandler):
        def answer(self):
            code = answers[self.command].pop(0)
            body = b"[]" if code == 200 else b""
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_DELETE = answer

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        lab = Lab(base=f"http://127.0.0.1:{server.server_port}", token="t", log_path=None, process=None,
                  runtime_dir=None)
        assert lab.kernels() == [] and answers["GET"] == []
        with pytest.raises(urllib.error.HTTPError):
            lab.api("kernels/x", method="DELETE")
        answers["GET"] = [404]
        with pytest.raises(urllib.error.HTTPError):
            lab.kernels()
    finally:
        server.shutdown()
