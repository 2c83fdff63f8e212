"""Static figures: every referenced figure exists, none is orphaned, each is built by lessons_src."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lessons_src.figures import FIGURES, FIGURES_DIR, save_figure

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "notebooks").glob("*.ipynb"))]


def referenced_figures() -> set[str]:
    names = set()
    for document in DOCUMENTS:
        names.update(re.findall(r"figures/([\w./-]+\.png)", document.read_text(encoding="utf-8")))
    return names


def test_every_referenced_figure_exists():
    missing = sorted(name for name in referenced_figures() if not (FIGURES_DIR / name).exists())
    assert not missing, f"referenced but not in figures/: {missing}"


def test_no_figure_is_orphaned():
    present = {p.relative_to(FIGURES_DIR).as_posix() for p in FIGURES_DIR.rglob("*.png")}
    assert present <= referenced_figures(), f"in figures/ but never shown: {sorted(present - referenced_figures())}"


def test_every_committed_figure_is_built_by_the_figures_command():
    assert {p.name for p in FIGURES_DIR.glob("*.png")} == set(FIGURES)


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_builds_and_saves_identically_twice(name, tmp_path):
    first = save_figure(FIGURES[name](), tmp_path / "a.png").read_bytes()
    second = save_figure(FIGURES[name](), tmp_path / "b.png").read_bytes()
    assert first == second and first[:4] == b"\x89PNG"
