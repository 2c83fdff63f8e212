"""Pure helpers behind the rules in the root conftest.py (tested in test_harness.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path


def uncollected_notebooks(requested: Iterable[Path], collected: Iterable[Path],
                          notebooks_dir: Path) -> list[Path]:
    """Notebooks in ``notebooks_dir`` that a run asked for (by folder or file) but did not collect."""
    notebooks_dir = notebooks_dir.resolve()
    present = sorted(notebooks_dir.glob("*.ipynb"))
    wanted: set[Path] = set()
    for path in (p.resolve() for p in requested):
        if path == notebooks_dir or path in notebooks_dir.parents:
            wanted.update(present)
        elif path.suffix == ".ipynb" and path.parent == notebooks_dir:
            wanted.add(path)
    got = {p.resolve() for p in collected}
    return sorted(wanted - got)


def usage_errors(outputs: Iterable[Mapping]) -> list[str]:
    """Lines of ``UsageError`` text that IPython wrote into a cell's outputs."""
    lines = []
    for output in outputs:
        text = output.get("text", "") or ""
        lines += [line for line in text.splitlines() if line.startswith("UsageError")]
    return lines


BROWSER_RUN = "tests/test_browser.py::test_notebook_in_course_lab["


def run_in_the_browser(nodeids: Iterable[str], notebooks_dir: Path) -> dict[str, Path]:
    """The browser tests (``test_notebook_in_course_lab[<stem>]``) among ``nodeids``, each with the notebook it runs:
    that test runs every cell in the lab from a fresh kernel and fails on any error, so nbval need not run them
    again."""
    return {nodeid: (notebooks_dir / f"{nodeid[len(BROWSER_RUN):-1]}.ipynb").resolve() for nodeid in nodeids
            if nodeid.startswith(BROWSER_RUN)}
