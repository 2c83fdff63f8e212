"""The notebooks' structure as a reader meets it: headings render, sections count up, predictions get written down."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# every lesson after the setup check asks for predictions, each with a `my_... = ...` cell a later cell compares

COMMENTED_HEADING = re.compile(r"^\s*#\s*#{1,3}\s", re.MULTILINE)  # e.g. "# ## 5. Other landscapes"
SECTION = re.compile(r"^## (\d+)\. ", re.MULTILINE)
PREDICTION = re.compile(r"^(my_\w+)\s*=\s*\.\.\.", re.MULTILINE)


def cells(path: Path) -> list[tuple[str, str]]:
    """(cell type, source) of every cell of the notebook at ``path``."""
    return [(c["cell_type"], "".join(c["source"])) for c in json.loads(path.read_text(encoding="utf-8"))["cells"]]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_code_cell_hides_a_markdown_heading(path):
    """A heading written as a comment in a code cell never renders, and its section silently disappears."""
    hidden = [(i, COMMENTED_HEADING.search(source).group().strip()) for i, (kind, source) in enumerate(cells(path))
              if kind == "code" and COMMENTED_HEADING.search(source)]
    assert not hidden, f"{path.name}: code cells hold commented-out headings: {hidden}; move them to markdown"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_section_numbers_count_up_without_gaps(path):
    numbers = [int(n) for kind, source in cells(path) if kind == "markdown" for n in SECTION.findall(source)]
    assert numbers == list(range(1, len(numbers) + 1)), f"{path.name}: sections numbered {numbers}"


def test_the_section_rules_catch_the_old_hidden_heading():
    """Lesson 01 once kept "## 5. Other landscapes" as a comment in a code cell: both rules see that."""
    old = "regimes = {}\n# ## 5. Other landscapes\n#\n# Three more surfaces\n"
    assert COMMENTED_HEADING.search(old)
    assert not COMMENTED_HEADING.search("x = 1  # ## not at the start of a line\n#: a note\n# #1 choice")
    markdown = "## 1. A\n\n## 2. B\n\n## 3. C\n\n## 4. D\n\n## 6. F"
    numbers = [int(n) for n in SECTION.findall(markdown)]
    assert numbers != list(range(1, len(numbers) + 1))


def predicting_notebooks() -> list[Path]:
    return [p for p in NOTEBOOKS if not p.name.startswith("00_")]


@pytest.mark.parametrize("path", predicting_notebooks(), ids=lambda p: p.name)
def test_every_prediction_prompt_has_a_place_to_write_it_and_is_compared(path):
    notebook = cells(path)
    prompts = [i for i, (kind, source) in enumerate(notebook) if kind == "markdown" and "*Predict" in source]
    assert prompts, f"{path.name} asks for no predictions"
    for i in prompts:
        kind, source = notebook[i + 1]
        written = PREDICTION.search(source) if kind == "code" else None
        assert written, f"{path.name}, cell {i}: the cell after a Predict prompt should start `my_... = ...`"
        later = "".join(s for k, s in notebook[i + 1:i + 5] if k == "code")
        assert re.search(rf"compare_prediction\(\s*{written.group(1)}\b", later), \
            f"{path.name}, cell {i}: {written.group(1)} is never passed to compare_prediction"


def title(path: Path) -> str:
    """The notebook's heading, e.g. "03 · Momentum and `torch.optim`"."""
    first = cells(path)[0][1]
    return re.match(r"# (.+)", first).group(1).strip()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_lesson_opens_with_its_number_goals_and_prerequisites(path):
    intro = cells(path)[0][1]
    assert title(path).startswith(f"{path.name[:2]} · "), f"{path.name}: heading {title(path)!r}"
    assert "**What you will learn**" in intro and "**Prerequisites" in intro, f"{path.name}: no goals or prerequisites"


@pytest.mark.parametrize("index", range(len(NOTEBOOKS) - 1), ids=lambda i: NOTEBOOKS[i].name)
def test_each_lesson_ends_by_naming_the_next_one(index):
    """The "Next:" line names the next notebook in the series by its number and title."""
    path, following = NOTEBOOKS[index], NOTEBOOKS[index + 1]
    nexts = re.findall(r"Next: \*\*(.+?)\*\*", "\n".join(source for kind, source in cells(path) if kind == "markdown"))
    assert nexts == [title(following)], f"{path.name} points to {nexts}, the next lesson is {title(following)!r}"
