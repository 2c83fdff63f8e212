"""Static figures: every referenced figure exists, none is orphaned, each is built by lessons_src,
and importing the figure module pulls in no widget library and leaves matplotlib's backend alone."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from matplotlib import font_manager

from lessons_src.figures import (
    BENCH_RECORDS,
    FIGURES,
    build_figure,
    figure_folder,
    main,
    minibatch_throughput,
    save_figure,
)
from lessons_src.language import LANGUAGES, cjk_font, current_language, use_language

ROOT = Path(__file__).resolve().parents[1]
FIGURES_DIR = ROOT / "figures"
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "notebooks").glob("*.ipynb")),
             *sorted((ROOT / "notebooks").glob("*/*.ipynb"))]  # the editions link to figures/zh/, figures/ja/


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


def test_every_committed_figure_is_built_by_the_figures_command_in_every_language():
    for lang in LANGUAGES:
        assert {p.name for p in figure_folder(ROOT, lang).glob("*.png")} == set(FIGURES), lang


@pytest.mark.parametrize(("lang", "title"), [("zh", "从 (−8, 9) 出发的 40 步梯度下降"),
                                             ("ja", "(−8, 9) から勾配降下法で 40 ステップ")])
def test_a_figure_in_an_edition_s_language_speaks_it_with_every_glyph_drawn(lang, title):
    before = current_language()
    try:
        use_language(lang)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "Glyph … missing from font" fails the test
            fig = build_figure("gd_step_sizes.png", ROOT)
            fig.canvas.draw()
        texts = [ax.get_title() for ax in fig.axes] + [t.get_text() for ax in fig.axes if ax.get_legend()
                                                       for t in ax.get_legend().get_texts()]
        plt.close(fig)
    finally:
        use_language(before)
    assert title in texts and not any("steps of gradient descent" in text for text in texts)


@pytest.mark.parametrize("name", sorted(FIGURES))
@pytest.mark.parametrize("lang", sorted(LANGUAGES))
def test_every_committed_figure_is_what_the_figures_command_draws_now(lang, name, tmp_path):
    """The committed PNG is byte for byte what the builder draws now in that language (the output is deterministic
    for the locked matplotlib and the same fonts): a changed figure function, record or message shows here."""
    if lang != "en" and cjk_font(lang) not in {font.name for font in font_manager.fontManager.ttflist}:
        pytest.skip(f"no CJK font for {lang} here (Debian: fonts-noto-cjk), so its figures cannot be drawn alike")
    before = current_language()
    try:
        use_language(lang)
        drawn = save_figure(build_figure(name, ROOT), tmp_path / name).read_bytes()
    finally:
        use_language(before)
    assert drawn[:4] == b"\x89PNG"
    assert drawn == (figure_folder(ROOT, lang) / name).read_bytes(), (
        f"{figure_folder(ROOT, lang).relative_to(ROOT) / name} is not what the figure code draws now: ./course figures")


def test_a_bench_figure_is_drawn_from_the_record_it_is_given():
    record = json.loads((ROOT / "bench" / BENCH_RECORDS["minibatch_throughput.png"]).read_text())
    assert record["runs"] and {"machine", "torch"} <= set(record)
    for run in record["runs"]:
        assert len(run["batch_size"]) == len(run["samples_per_second"]) and run["threads"] >= 1
    record["runs"] = record["runs"][:1]
    fig = minibatch_throughput(record)
    assert len(fig.axes[0].lines) == 1 and record["machine"] in fig._suptitle.get_text()


def test_the_figures_command_wants_the_repository_root(tmp_path, capsys):
    before = current_language()
    assert main(["gd_step_sizes.png"], root=tmp_path) == 2
    assert "repository root" in capsys.readouterr().err
    (tmp_path / "bench").mkdir()
    assert main(["no_such_figure.png"], root=tmp_path) == 2
    assert main(["gd_step_sizes.png"], root=tmp_path) == 0
    for lang in LANGUAGES:  # figures/gd_step_sizes.png, figures/zh/…, figures/ja/…
        assert (figure_folder(tmp_path, lang) / "gd_step_sizes.png").read_bytes()[:4] == b"\x89PNG"
    assert current_language() == before  # the language the command found is the one it leaves


def imported_modules_and_backend(module: str) -> dict:
    """In a fresh interpreter: which of ipywidgets/IPython ``import module`` loads, and the backend change."""
    code = ("import json, sys, matplotlib\n"
            "before = matplotlib.get_backend()\n"
            f"import {module}\n"
            "print(json.dumps({'ipywidgets': 'ipywidgets' in sys.modules, 'IPython': 'IPython' in sys.modules,\n"
            "                  'backend_changed': matplotlib.get_backend() != before}))\n")
    env = {"MPLBACKEND": "svg", "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                          check=True, timeout=120)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_figures_module_loads_no_widgets_and_keeps_the_backend():
    assert imported_modules_and_backend("lessons_src.figures") == {
        "ipywidgets": False, "IPython": False, "backend_changed": False}


def test_importing_plotting_loads_no_ipython():
    assert imported_modules_and_backend("lessons_src.plotting")["IPython"] is False
