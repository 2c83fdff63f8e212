"""The 中文 and 日本語 editions: complete, current, built from the catalogs, the English code but for translated
strings, and in the glossary's terms."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from lessons_src import editions
from lessons_src.editions import (
    LANGUAGES,
    build_notebook,
    code_pairs,
    edition_path,
    english_notebooks,
    load_catalog,
    missing_terms,
    notebook_text,
    problems,
    read_notebook,
    relocate,
    set_cell,
    source,
    term_problems,
    untranslate_code,
)

EDITIONS = [(lang, path.stem) for lang in LANGUAGES for path in english_notebooks()]
IDS = [f"{lang}-{stem[:2]}" for lang, stem in EDITIONS]
CODE_SPAN = re.compile(r"`[^`\n]+`")
FORMULA = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$", re.DOTALL)
LINK_TARGET = re.compile(r"\]\(([^)\s]+)")


@pytest.mark.parametrize(("lang", "stem"), EDITIONS, ids=IDS)
def test_every_cell_is_translated_from_the_current_english(lang, stem):
    found = problems(lang, stem)
    assert not found, (f"the {LANGUAGES[lang]} edition of {stem} is not complete and current "
                       f"(python3 lessons_src/editions.py todo {lang} {stem} lists the cells):\n"
                       + "\n".join(map(str, found)))


@pytest.mark.parametrize(("lang", "stem"), EDITIONS, ids=IDS)
def test_the_committed_edition_is_what_the_build_writes_now(lang, stem):
    path = edition_path(lang, stem)
    assert path.exists(), f"{path} is missing: run python3 lessons_src/editions.py build"
    assert path.read_text(encoding="utf-8") == notebook_text(build_notebook(lang, stem)), (
        f"{path} differs from what the build writes from the catalog now: run python3 lessons_src/editions.py build")


@pytest.mark.parametrize(("lang", "stem"), EDITIONS, ids=IDS)
def test_an_edition_runs_the_english_code_but_for_translated_strings(lang, stem):
    english = read_notebook(editions.NOTEBOOKS / f"{stem}.ipynb")
    edition = read_notebook(edition_path(lang, stem))
    catalog = load_catalog(lang, stem)
    cells = [cell for cell in edition["cells"] if cell["id"] != f"{lang}-corrections"]
    assert [(c["id"], c["cell_type"]) for c in cells] == [(c["id"], c["cell_type"]) for c in english["cells"]]
    for mine, theirs in zip(cells, english["cells"], strict=True):
        if theirs["cell_type"] == "code":
            assert untranslate_code(source(mine), code_pairs(lang, catalog, theirs)) == source(theirs), mine["id"]
    switches = [source(c) for c in cells if f'use_language("{lang}")' in source(c)]
    assert len(switches) == 1, "the setup cell must switch the helpers to the edition's language, once"


@pytest.mark.parametrize(("lang", "stem"), EDITIONS, ids=IDS)
def test_a_translated_cell_keeps_the_code_formulas_and_links_of_the_english(lang, stem):
    english = {cell["id"]: source(cell) for cell in read_notebook(editions.NOTEBOOKS / f"{stem}.ipynb")["cells"]}
    catalog = load_catalog(lang, stem)
    literals = translated_literals(catalog)
    for cell_id, entry in catalog["cells"].items():
        for pattern, what in ((CODE_SPAN, "code spans"), (FORMULA, "formulas"), (LINK_TARGET, "link targets")):
            want, got = Counter(pattern.findall(english[cell_id])), Counter(pattern.findall(entry["text"]))
            if pattern is CODE_SPAN:
                # an answer the edition's code spells differently must be named as the edition spells it
                stale = stale_answers(got, literals)
                assert not stale, (f"cell {cell_id}: names {stale} as in the English, where this edition's code "
                                   f"says {[literals[span.strip('`')] for span in stale]}")
                got = Counter(as_english_literal(span, want, literals) for span in got.elements())
            # a span may recur where the sentence is built differently, or name a part of one ("`epochs`" of
            # "`range(epochs)`"); what the English has not at all is new
            new = {span for span in set(got) - set(want) if not any(span.strip("`$") in old for old in want)}
            assert not want - got and not new, (f"cell {cell_id}: the translation's {what} differ from the "
                                                f"English: it lacks {dict(want - got)}, adds {sorted(new)}")


def translated_literals(catalog) -> dict[str, str]:
    """Each English string literal the notebook's code cells translate one way only, with its translation."""
    seen: dict[str, set[str]] = {}
    for pairs in catalog.get("strings", {}).values():
        for english, translated in pairs:
            seen.setdefault(english, set()).add(translated)
    return {english: translated.pop() for english, translated in seen.items() if len(translated) == 1}


def stale_answers(spans, literals: dict[str, str]) -> list[str]:
    """The code spans that name an English literal which this edition's code translates to something else."""
    return [span for span in spans if literals.get(span.strip("`"), span.strip("`")) != span.strip("`")]


def test_a_prompt_must_name_the_answers_the_edition_accepts():
    catalog = {"strings": {"c1": [['"yes"', '"是"'], ['"no"', '"否"']], "c2": [['"close"', '"接近"']],
                           "c3": [['"close"', '"近"']]}}
    literals = translated_literals(catalog)
    assert literals == {'"yes"': '"是"', '"no"': '"否"'}  # "close" is translated two ways: no single answer
    assert as_english_literal('`"是"`', ['`"yes"`', '`"no"`'], literals) == '`"yes"`'
    assert as_english_literal('`"否"`', ['`"yes"`'], literals) == '`"否"`'  # not a span of this cell
    assert stale_answers(['`"yes"`', '`"close"`', '`loss`'], literals) == ['`"yes"`']


def as_english_literal(span: str, english_spans, literals: dict[str, str]) -> str:
    """A code span of a translation read back as the English one it stands for: an answer the learner types
    (`"是"`) may be the translated literal of an English span (`"yes"`) where the notebook's code translates that
    literal that way (and only that way), so that the prompt names what the edition's check accepts."""
    for english_span in english_spans:
        if literals.get(english_span.strip("`")) == span.strip("`"):
            return english_span
    return span


@pytest.mark.parametrize(("lang", "stem"), EDITIONS, ids=IDS)
def test_every_glossary_term_is_rendered_as_the_glossary_says(lang, stem):
    lacking = term_problems(lang, stem)
    assert not lacking, (f"cells whose translation lacks the glossary's rendering of a term they use: {lacking} "
                         "(a word used in another sense goes in the catalog's other_senses)")


# --- the machinery, on a notebook of its own -------------------------------------------------------------------
@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A one-notebook series in tmp_path with an English source and a zh catalog for it."""
    notebooks, catalogs = tmp_path / "notebooks", tmp_path / "translations"
    notebooks.mkdir()
    title = "# 01 · The learning rate\n\n![x](../figures/x.png)"
    cells = [{"cell_type": "markdown", "id": "m1", "metadata": {}, "source": title},
             {"cell_type": "code", "id": "c1", "metadata": {}, "execution_count": None, "outputs": [],
              "source": 'use_language("en")\nprint("loss:", 1.0)'}]
    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (notebooks / "01_x.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    monkeypatch.setattr(editions, "NOTEBOOKS", notebooks)
    monkeypatch.setattr(editions, "CATALOGS", catalogs)
    catalog = load_catalog("zh", "01_x")
    set_cell(catalog, cells[0], "# 01 · 学习率\n\n![x](../figures/x.png)")
    catalog["strings"] = {"c1": [['"loss:"', '"损失："']]}
    catalog["corrections"] = {"after": "m1", "text": "本课不更正源教程。"}
    editions.save_catalog("zh", "01_x", catalog)
    editions.stamp_corrections("zh", "01_x")
    return notebooks, cells


def test_a_complete_catalog_builds_with_relocated_links_translated_strings_and_the_language_switch(tiny):
    assert problems("zh", "01_x") == []
    built = build_notebook("zh", "01_x")
    assert [c["id"] for c in built["cells"]] == ["m1", "zh-corrections", "c1"]
    assert built["cells"][0]["source"] == "# 01 · 学习率\n\n![x](../../figures/x.png)"
    assert built["cells"][2]["source"] == 'use_language("zh")\nprint("损失：", 1.0)'
    assert built["metadata"]["language_edition"] == {"language": "zh", "source": "../01_x.ipynb"}


def test_a_changed_english_cell_makes_its_translation_stale_and_the_build_refuses(tiny):
    notebooks, cells = tiny
    cells[0]["source"] = "# 01 · The learning rate, changed"
    (notebooks / "01_x.ipynb").write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                                      "nbformat_minor": 5}), encoding="utf-8")
    assert [p.what for p in problems("zh", "01_x")] == ["the English text changed after it was translated"]
    with pytest.raises(ValueError, match="cannot be built"):
        build_notebook("zh", "01_x")


def test_a_renamed_section_makes_the_corrections_table_stale_until_stamped(tiny):
    notebooks, cells = tiny
    cells[0]["source"] += "\n\n## 1. A new first section"
    (notebooks / "01_x.ipynb").write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                                      "nbformat_minor": 5}), encoding="utf-8")
    found = [p.what for p in problems("zh", "01_x")]
    assert "the English text changed after it was translated" in found
    assert any("section headings changed after the corrections table" in what and "stamp zh 01_x" in what
               for what in found)
    editions.stamp_corrections("zh", "01_x")
    assert not any("section headings" in p.what for p in problems("zh", "01_x"))


@pytest.mark.parametrize(("lang", "stem"), EDITIONS, ids=IDS)
def test_the_corrections_table_names_sections_the_lesson_has(lang, stem):
    """A corrections table's "(第 2 节)" / "（第 2 節）": the English notebook has a "## 2." section."""
    english = read_notebook(editions.NOTEBOOKS / f"{stem}.ipynb")
    numbers = {int(n) for n in re.findall(r"^## (\d+)\.", editions.section_headings(english), re.M)}
    text = load_catalog(lang, stem)["corrections"]["text"]  # 第 2 节, 第 3、4 节, （4 節）, 第 2・3 節
    cited = {int(n) for group in re.findall(r"(\d+(?:\s*[、・,，]\s*\d+)*)\s*[节節]", text)
             for n in re.findall(r"\d+", group)}
    assert cited <= numbers, f"{lang}/{stem}: sections {sorted(cited - numbers)} cited; it has {sorted(numbers)}"


def test_missing_cells_strings_that_left_the_code_and_a_missing_table_are_named(tiny):
    catalog = load_catalog("zh", "01_x")
    del catalog["cells"]["m1"]
    catalog["strings"]["c1"] = [['"gone"', '"没了"'], ['"loss:"', 'not a literal']]
    catalog["corrections"] = None
    editions.save_catalog("zh", "01_x", catalog)
    found = [p.what for p in problems("zh", "01_x")]
    assert "no translation" in found
    assert any("is no longer in the English code" in what for what in found)
    assert any("must be one Python string literal" in what for what in found)
    assert any("no table of the source tutorials' passages" in what for what in found)


def test_relocation_moves_links_above_notebooks_one_folder_up_and_leaves_siblings():
    text = "[glossary](../GLOSSARY.md), ![f](../figures/a.png), <img src=\"../figures/b.png\">, [next](02_x.ipynb)"
    assert relocate(text) == ("[glossary](../../GLOSSARY.md), ![f](../../figures/a.png), "
                              "<img src=\"../../figures/b.png\">, [next](02_x.ipynb)")


def test_relocation_shows_a_figure_in_the_edition_s_language_where_figures_holds_one(tiny):
    figures = editions.NOTEBOOKS.parent / "figures"
    (figures / "zh").mkdir(parents=True)
    (figures / "zh" / "a.png").write_bytes(b"\x89PNG")
    text = "![f](../figures/a.png), <img src=\"../figures/b.png\">, ![s](../figures/screenshots/c.png)"
    assert relocate(text, "zh") == ("![f](../../figures/zh/a.png), <img src=\"../../figures/b.png\">, "
                                    "![s](../../figures/screenshots/c.png)")
    assert relocate(text, "ja") == relocate(text)  # no Japanese a.png: the English one


def test_every_edition_shows_the_course_s_figures_in_its_own_language():
    from lessons_src.figures import FIGURES

    for lang in ("zh", "ja"):
        shown = set()
        for path in sorted((editions.NOTEBOOKS / lang).glob("*.ipynb")):
            shown.update(re.findall(r"\.\./\.\./figures/([\w./-]+\.png)", path.read_text(encoding="utf-8")))
        drawn = {name for name in shown if not name.startswith("screenshots/")}
        assert drawn == {f"{lang}/{name}" for name in FIGURES}, f"the {lang} edition shows {sorted(drawn)}"


def test_the_glossary_check_needs_the_glossary_word_and_prefers_the_longer_term():
    assert missing_terms("Lower the learning rate.", "把学习率调小。", "zh") == []
    assert missing_terms("Lower the learning rate.", "把步子调小。", "zh") == ["'learning rate' → 学习率 or 步长"]
    assert missing_terms("The batch size B.", "批大小 B。", "zh") == []  # "batch size" hides "batch"
    assert missing_terms("A mini-batch.", "一个小批量。", "zh") == []  # a hyphenated compound is not the term
    assert missing_terms("`loss` in code is not prose", "代码", "ja") == []
    # a rendering counts in the translation's prose only, and a Latin-script one as a whole word
    assert missing_terms("Train for one epoch.", "训练一个 `epoch`。", "zh") == ["'epoch' → 轮次 or epoch"]
    assert missing_terms("Train for one epoch.", "训练一个 epoch。", "zh") == []
    assert missing_terms("Kaiming initialization.", "Hessian を使います。", "ja") != []
    assert missing_terms("Kaiming initialization.", "He の初期化を使います。", "ja") == []


def test_a_translated_f_string_must_compute_what_the_english_computes(tiny):
    catalog = load_catalog("zh", "01_x")
    notebooks, cells = tiny
    cells[1]["source"] = 'use_language("en")\nprint(f"loss {loss:.3f} at step {step}")'
    (notebooks / "01_x.ipynb").write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                                      "nbformat_minor": 5}), encoding="utf-8")
    catalog["strings"]["c1"] = [['f"loss {loss:.3f} at step {step}"', 'f"第 {step} 步的损失 {loss:.3f}"']]
    editions.save_catalog("zh", "01_x", catalog)
    assert problems("zh", "01_x") == []  # the fields may move, as the language's word order asks
    for bad in ('f"损失 {损失:.3f}"', 'f"损失 {loss:.2f}，第 {step} 步"', '"损失"'):
        catalog["strings"]["c1"] = [['f"loss {loss:.3f} at step {step}"', bad]]
        editions.save_catalog("zh", "01_x", catalog)
        assert any("must keep the same {fields}" in p.what for p in problems("zh", "01_x")), bad
