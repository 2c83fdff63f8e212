"""The helpers' languages: every message in every table, the language chosen by a cell or COURSE_LANG, English
as the fallback, and figures that draw Chinese and Japanese characters."""

from __future__ import annotations

import string
import subprocess
import sys
import warnings

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lessons_src import language  # noqa: E402
from lessons_src.feedback import check_answer, compare_prediction  # noqa: E402
from lessons_src.language import MESSAGES, messages_in_code, read_po, tr, use_language  # noqa: E402

TRANSLATED = [code for code in language.LANGUAGES if code != "en"]


@pytest.fixture(autouse=True)
def english_afterwards():
    yield
    use_language("en")


def fields(text: str) -> list[tuple[str, str]]:
    """The ``{name:spec}`` fields of a message, sorted."""
    return sorted((name, spec or "") for _, name, spec, _ in string.Formatter().parse(text) if name is not None)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_message_has_a_translation_with_the_same_fields(lang):
    table = read_po(MESSAGES / f"{lang}.po")
    used = messages_in_code()
    missing = [f"{message!r} ({where})" for message, where in used.items() if message not in table]
    assert not missing, (f"messages/{lang}.po lacks {len(missing)} message(s): {missing[:5]}; run "
                         "python3 lessons_src/language.py and fill in the empty msgstr lines")
    wrong = [message for message in used if fields(table[message]) != fields(message)]
    assert not wrong, f"messages/{lang}.po: these translations change the {{fields}}: {wrong}"
    unused = sorted(set(table) - set(used))
    assert not unused, f"messages/{lang}.po holds messages no helper uses any more: {unused}"


def test_the_tables_are_found_in_the_code():
    assert "✗ {what}: {problem}. Hint: {hint}" in messages_in_code()
    assert len(messages_in_code()) >= 30


def test_a_check_speaks_the_language_chosen_and_english_is_the_default():
    assert language.current_language() == "en"
    assert "Hint: add" in repr(check_answer(2, 3, what="the sum", hint="add"))
    use_language("zh")
    assert repr(check_answer(2, 3, what="和", hint="相加")) == "✗ 和：还不对（你给出的是 2）。提示：相加"
    assert repr(compare_prediction(3, 3, what="和")).startswith("✓ 你预测的是 3")
    use_language("ja")
    assert repr(check_answer(3, 3, what="和", hint="足す")) == "✓ 和：正解です。"
    use_language("en")
    assert repr(check_answer(3, 3, what="the sum", hint="add")) == "✓ the sum: correct."


def test_a_message_no_table_holds_is_shown_in_english():
    use_language("zh")
    assert tr("a sentence nobody translated, {n} times", n=3) == "a sentence nobody translated, 3 times"


def test_a_language_the_course_lacks_is_refused_by_name():
    with pytest.raises(ValueError, match=r"lang must be one of 'en' \(English\), 'zh' \(中文\), 'ja' \(日本語\), "
                                         r"got 'fr'"):
        use_language("fr")
    assert language.current_language() == "en"


def test_course_lang_picks_the_language_of_a_new_kernel_and_a_wrong_one_is_named():
    code = "from lessons_src.feedback import check_answer; print(check_answer(1, 2, what='x', hint='y'))"
    env = {"PATH": "/usr/bin:/bin", "COURSE_LANG": "ja", "MPLBACKEND": "Agg"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "✗ x：まだ違います（あなたの答えは 1）。ヒント：y"
    bad = subprocess.run([sys.executable, "-c", code], env=dict(env, COURSE_LANG="de"), capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode != 0
    assert "the environment variable COURSE_LANG must be one of" in bad.stderr and "got 'de'" in bad.stderr


@pytest.mark.parametrize(("lang", "text"), [("zh", "学习率与损失"), ("ja", "学習率と損失")])
def test_figures_draw_the_language_s_characters_without_missing_glyphs(lang, text):
    use_language(lang)
    fig, ax = plt.subplots()
    ax.set_title(f"{text} (lr = 0.1)")
    ax.set_xlabel("epoch")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph … missing from font" and "findfont: … not found" fail the test
        fig.canvas.draw()
    plt.close(fig)


def test_the_po_reader_joins_continued_lines_and_skips_untranslated(tmp_path):
    po = tmp_path / "xx.po"
    po.write_text('msgid ""\nmsgstr "Content-Type: text/plain\\n"\n\n#: a.py:1\nmsgid "one "\n"{n}"\n'
                  'msgstr "一 "\n"{n}"\n\nmsgid "two"\nmsgstr ""\n', encoding="utf-8")
    assert read_po(po) == {"one {n}": "一 {n}"}
    po.write_text("msgid \"x\"\nmsgstr \"y\"\nnonsense\n", encoding="utf-8")
    with pytest.raises(ValueError, match="cannot read the line 'nonsense'"):
        read_po(po)


def test_the_readme_counts_the_messages_the_tables_hold():
    readme = (MESSAGES.parents[1] / "README.md").read_text(encoding="utf-8")
    assert f"`ja.po` ({len(messages_in_code())} messages)" in readme


def test_a_bad_argument_is_refused_in_the_language_chosen():
    import torch

    from lessons_src.training import fit
    from lessons_src.validation import as_int, as_real

    try:
        use_language("ja")
        with pytest.raises(ValueError, match=r"^lr は 0 以上の有限の数でなければなりませんが、-1 が渡されました$"):
            as_real("lr", -1, low=0)
        with pytest.raises(ValueError, match=r"^num_steps は \[0, 10\] の範囲の整数でなければなりませんが、"
                                             r"11 が渡されました。長い実行は複数回の呼び出しに分けてください$"):
            as_int("num_steps", 11, high=10, remedy=tr("split a longer run into several calls"))
        use_language("zh")
        with pytest.raises(ValueError, match=r"^lr 必须是 >= 0 的有限数，得到的却是 -1$"):
            as_real("lr", -1, low=0)
        model = torch.nn.Linear(2, 2)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        with pytest.raises(ValueError, match=r"^scheduler_step 必须是 'epoch' 或 'batch'，得到的却是 'step'$"):
            fit(model, [], [], torch.nn.CrossEntropyLoss(), optimizer, 1, scheduler_step="step")
    finally:
        use_language("en")
    with pytest.raises(ValueError, match=r"^lr must be a finite number >= 0, got -1$"):
        as_real("lr", -1, low=0)


def test_the_language_a_cell_chooses_reaches_the_processes_it_starts(monkeypatch):
    """Lesson 14's workers are new processes: use_language sets COURSE_LANG, so they speak the notebook's language."""
    monkeypatch.delenv("COURSE_LANG", raising=False)
    code = "from lessons_src.language import tr; print(tr('none'))"
    try:
        use_language("ja")
        worker = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert worker.stdout.strip() == tr("none") != "none", worker.stderr
    finally:
        use_language("en")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120).stdout.strip() == "none"


def test_the_cjk_font_is_the_first_of_the_language_s_fonts_that_is_installed(monkeypatch):
    from matplotlib import font_manager

    from lessons_src.language import CJK_FONTS, cjk_font

    class Font:
        def __init__(self, name):
            self.name = name

    monkeypatch.setattr(font_manager.fontManager, "ttflist", [Font("DejaVu Sans"), Font("Hiragino Sans"),
                                                              Font("PingFang SC")])
    assert cjk_font("ja") == "Hiragino Sans" and cjk_font("zh") == "PingFang SC"
    monkeypatch.setattr(font_manager.fontManager, "ttflist", [Font("DejaVu Sans")])
    assert cjk_font("zh") == CJK_FONTS["zh"][0]  # none installed: the one to install, named in matplotlib's warning
