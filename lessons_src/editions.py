"""The Chinese and Japanese editions of the series, built from the English notebooks and a catalog per language.

The English notebooks are the source. ``translations/<lang>/<notebook stem>.json`` holds, for one notebook:

- ``cells``: each markdown cell's translation keyed by the cell's id, with the SHA-256 of the English text it was
  translated from (``en_sha256``), so that a changed English cell shows up as stale;
- ``strings``: per code cell id, pairs ``[english literal, translated literal]`` of Python string literals exactly
  as they are written in the code (quotes and ``f`` prefix included): titles, labels and printed sentences;
- ``corrections``: one markdown cell in the edition's language, inserted after the cell ``after``, with a short
  table of the passages of the source tutorials the lesson corrects, and the SHA-256 of the English section
  headings its "(section 2)" references were checked against (``headings_sha256``; ``stamp LANG STEM`` records it);
- ``other_senses`` (optional): per cell id, English words the cell uses in another sense than the glossary's
  ("rank them", "a batch script"), which the glossary check then leaves alone.

``python3 lessons_src/editions.py build`` writes ``notebooks/<lang>/*.ipynb``; ``check`` says what is missing,
stale or different from what ``build`` would write now; ``todo LANG STEM`` lists the cells still to translate;
``terms LANG STEM`` lists the glossary terms a translated cell lacks. Standard library only, so that translators
and the build need nothing installed.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
CATALOGS = ROOT / "translations"
GLOSSARY = ROOT / "GLOSSARY.md"
LANGUAGES = {"zh": "中文", "ja": "日本語"}
GLOSSARY_COLUMN = {"zh": 1, "ja": 2}  # the glossary table's columns: English, 中文, 日本語, meaning
# a markdown link or image to a file above notebooks/ moves one folder further up in notebooks/<lang>/
# the line of each English setup cell that picks the helpers' language; an edition picks its own
LANGUAGE_SWITCH = 'use_language("en")'
RELATIVE_LINK = re.compile(r"(\]\(|src=[\"'])\.\./")
TRANSLATED_FIGURE = re.compile(r"((?:\]\(|src=[\"'])\.\./\.\./figures/)([\w.-]+\.png)")  # a figure, not in a subfolder


def sha256(text: str) -> str:
    """The hash a translation records of the English text it was made from."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def source(cell: dict) -> str:
    """A cell's text as one string (notebook files may hold it as a list of lines)."""
    text = cell["source"]
    return text if isinstance(text, str) else "".join(text)


def english_notebooks() -> list[Path]:
    """The series, in order: the source of every edition."""
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def read_notebook(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def catalog_path(lang: str, stem: str) -> Path:
    check_language(lang)
    return CATALOGS / lang / f"{stem}.json"


def check_language(lang: str) -> str:
    if lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {sorted(LANGUAGES)}, got {lang!r}")
    return lang


def load_catalog(lang: str, stem: str) -> dict:
    """The catalog of one notebook in one language (empty if none was written yet)."""
    path = catalog_path(lang, stem)
    if not path.exists():
        return {"notebook": f"{stem}.ipynb", "language": lang, "cells": {}, "strings": {}, "corrections": None}
    return json.loads(path.read_text(encoding="utf-8"))


def save_catalog(lang: str, stem: str, catalog: dict) -> Path:
    """Write a catalog in a stable, reviewable form (one key per line, characters unescaped)."""
    path = catalog_path(lang, stem)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(catalog, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def section_headings(notebook: dict) -> str:
    """The notebook's section headings (its "## " lines, in order): what a corrections table's "(section 2)"
    references point at."""
    return "\n".join(line for cell in notebook["cells"] if cell["cell_type"] == "markdown"
                     for line in source(cell).splitlines() if line.startswith("## "))


def stamp_corrections(lang: str, stem: str) -> Path:
    """Record that the corrections table's section references were checked against the English headings as they
    are now (their hash in ``corrections["headings_sha256"]``)."""
    catalog = load_catalog(lang, stem)
    catalog["corrections"]["headings_sha256"] = sha256(section_headings(read_notebook(NOTEBOOKS / f"{stem}.ipynb")))
    return save_catalog(lang, stem, catalog)


def set_cell(catalog: dict, english: dict, text: str) -> None:
    """Record ``text`` as the translation of the English markdown cell ``english`` (its id and hash)."""
    if english["cell_type"] != "markdown":
        raise ValueError(f"cell {english['id']} is a {english['cell_type']} cell; only markdown cells are "
                         "translated whole (translate a code cell's strings with 'strings')")
    catalog["cells"][english["id"]] = {"en_sha256": sha256(source(english)), "text": text}


# --- problems ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    lang: str
    notebook: str
    cell: str
    what: str

    def __str__(self) -> str:
        return f"{self.lang}/{self.notebook} cell {self.cell}: {self.what}"


def literal_ok(text: str) -> bool:
    """Whether ``text`` is one Python string literal (plain or f-string) and nothing else."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return False
    node = tree.body
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def fields(literal: str) -> list[str]:
    """The replacement fields of an f-string literal (expression, conversion and format), in order; none for a
    plain string. A translation must keep them, so that it computes exactly what the English computes."""
    node = ast.parse(literal.strip(), mode="eval").body
    if not isinstance(node, ast.JoinedStr):
        return []
    return [ast.dump(value) for value in node.values if isinstance(value, ast.FormattedValue)]


def is_f(literal: str) -> bool:
    return isinstance(ast.parse(literal.strip(), mode="eval").body, ast.JoinedStr)


def translate_code(code: str, pairs: list[list[str]]) -> str:
    """The code with each English literal replaced by its translation (every occurrence)."""
    for english, translated in pairs:
        code = code.replace(english, translated)
    return code


def untranslate_code(code: str, pairs: list[list[str]]) -> str:
    """The inverse of :func:`translate_code`: what the English code must be again."""
    for english, translated in reversed(pairs):
        code = code.replace(translated, english)
    return code


def string_problems(english: dict, pairs: list[list[str]]) -> list[str]:
    """What is wrong with one code cell's string pairs: not literals, not in the English code, or not undoable."""
    code, found = source(english), []
    for pair in pairs:
        if len(pair) != 2 or not all(isinstance(part, str) for part in pair):
            found.append(f"a string pair must be [english literal, translated literal], got {pair!r}")
            continue
        en, tr = pair
        if not literal_ok(en) or not literal_ok(tr):
            found.append(f"{en!r} → {tr!r}: both sides must be one Python string literal, quotes included")
        elif sorted(fields(en)) != sorted(fields(tr)) or is_f(en) != is_f(tr):
            found.append(f"{en!r} → {tr!r}: the translation must keep the same {{fields}} and the same kind of "
                         "literal (f-string or plain), so that only words change")
        elif en not in code:
            found.append(f"{en!r} is no longer in the English code: translate the cell's strings again")
        elif en == tr:
            found.append(f"{en!r} is 'translated' to itself: drop the pair")
    if not found and untranslate_code(translate_code(code, pairs), pairs) != code:
        found.append("the translated literals cannot be mapped back to the English code (a translation occurs "
                     "in the English code, or two literals overlap): choose other words")
    return found


def problems(lang: str, stem: str) -> list[Problem]:
    """Everything that keeps one notebook's edition from being complete and current."""
    notebook = f"{stem}.ipynb"
    english = read_notebook(NOTEBOOKS / notebook)
    catalog = load_catalog(lang, stem)
    cells = {cell["id"]: cell for cell in english["cells"]}
    found: list[Problem] = []
    for cell in english["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        entry = catalog["cells"].get(cell["id"])
        if entry is None:
            found.append(Problem(lang, notebook, cell["id"], "no translation"))
        elif entry["en_sha256"] != sha256(source(cell)):
            found.append(Problem(lang, notebook, cell["id"], "the English text changed after it was translated"))
    for cell_id in catalog["cells"]:
        if cell_id not in cells:
            found.append(Problem(lang, notebook, cell_id, "translated, but the English notebook has no such cell"))
    for cell_id, pairs in catalog.get("strings", {}).items():
        if cell_id not in cells or cells[cell_id]["cell_type"] != "code":
            found.append(Problem(lang, notebook, cell_id, "strings given, but there is no such English code cell"))
            continue
        found += [Problem(lang, notebook, cell_id, what) for what in string_problems(cells[cell_id], pairs)]
    corrections = catalog.get("corrections")
    if not corrections or not corrections.get("text", "").strip():
        found.append(Problem(lang, notebook, "-", "no table of the source tutorials' passages this lesson corrects"))
    elif corrections.get("after") not in cells:
        found.append(Problem(lang, notebook, "-", f"the corrections table goes after cell "
                                                  f"{corrections.get('after')!r}, which the English notebook lacks"))
    elif corrections.get("headings_sha256") != sha256(section_headings(english)):
        found.append(Problem(lang, notebook, "-", "the English section headings changed after the corrections table "
                                                  "was written: check its section references, then run "
                                                  f"python3 lessons_src/editions.py stamp {lang} {stem}"))
    return found


# --- building ---------------------------------------------------------------------------------------------
def code_pairs(lang: str, catalog: dict, english: dict) -> list[list[str]]:
    """What changes in one code cell of the edition: the catalog's string pairs, and the setup cell's
    ``use_language("en")``, which becomes the edition's language."""
    pairs = list(catalog.get("strings", {}).get(english["id"], []))
    if LANGUAGE_SWITCH in source(english):
        pairs.append([LANGUAGE_SWITCH, LANGUAGE_SWITCH.replace('"en"', f'"{lang}"')])
    return pairs


def relocate(markdown: str, lang: str | None = None) -> str:
    """Links and images to files above notebooks/ as seen from notebooks/<lang>/; with ``lang``, a figure that
    ``figures/<lang>/`` holds in that language (``./course figures`` draws them) is shown from there."""
    markdown = RELATIVE_LINK.sub(lambda match: match.group(1) + "../../", markdown)
    if lang is None:
        return markdown
    figures = NOTEBOOKS.parent / "figures"

    def translated(match: re.Match) -> str:
        name = match.group(2)
        return match.group(1) + (f"{lang}/{name}" if (figures / lang / name).is_file() else name)

    return TRANSLATED_FIGURE.sub(translated, markdown)


def build_notebook(lang: str, stem: str) -> dict:
    """The edition of one notebook: translated markdown, translated code strings, the corrections table; the
    rest (code, metadata, ids) as in English. Raises ValueError if the catalog is incomplete or stale."""
    found = problems(lang, stem)
    if found:
        raise ValueError(f"the {LANGUAGES[lang]} edition of {stem} cannot be built:\n" + "\n".join(map(str, found)))
    english = read_notebook(NOTEBOOKS / f"{stem}.ipynb")
    catalog = load_catalog(lang, stem)
    cells = []
    for cell in english["cells"]:
        cell = json.loads(json.dumps(cell))
        if cell["cell_type"] == "markdown":
            cell["source"] = relocate(catalog["cells"][cell["id"]]["text"], lang)
        else:
            cell["source"] = translate_code(source(cell), code_pairs(lang, catalog, cell))
        cells.append(cell)
        if cell["id"] == catalog["corrections"]["after"]:
            cells.append({"cell_type": "markdown", "id": f"{lang}-corrections", "metadata": {},
                          "source": relocate(catalog["corrections"]["text"], lang)})
    metadata = dict(english["metadata"], language_edition={"language": lang, "source": f"../{stem}.ipynb"})
    return dict(english, cells=cells, metadata=metadata)


def notebook_text(notebook: dict) -> str:
    """A notebook file's text as Jupyter writes it (one-space indent, a final newline)."""
    return json.dumps(notebook, ensure_ascii=False, indent=1) + "\n"


def edition_path(lang: str, stem: str) -> Path:
    return NOTEBOOKS / check_language(lang) / f"{stem}.ipynb"


def translated_stems(lang: str) -> list[str]:
    """The notebooks that have a catalog in ``lang``."""
    return sorted(path.stem for path in (CATALOGS / check_language(lang)).glob("*.json"))


def build(langs: list[str] | None = None) -> list[Path]:
    """Write every edition whose catalog is complete; return the files written."""
    written = []
    for lang in langs or list(LANGUAGES):
        for stem in translated_stems(lang):
            path = edition_path(lang, stem)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(notebook_text(build_notebook(lang, stem)), encoding="utf-8")
            written.append(path)
    return written


# --- the glossary's terms ------------------------------------------------------------------------------------
def _alternatives(cell_text: str, *, keep_short_parentheses: bool) -> list[str]:
    """The names in one glossary cell: split at ',', '/' and ';'; parentheses dropped, or (for the translated
    columns) kept as one more name when they hold a single word such as '(Dropout)'."""
    names = []
    for inner in re.findall(r"\(([^()]*)\)", cell_text):
        if keep_short_parentheses and " " not in inner.strip() and inner.strip():
            names.append(inner.strip())
    bare = re.sub(r"\([^()]*\)", " ", cell_text)
    for part in re.split(r"[,/;，；]", bare):
        part = " ".join(part.split())
        if part:
            names.append(part)
    return names


@dataclass(frozen=True)
class Term:
    english: tuple[str, ...]
    rendering: dict  # lang → tuple of accepted renderings


@cache
def glossary_terms() -> tuple[Term, ...]:
    """The glossary's rows as terms: English names to look for, each language's accepted renderings."""
    terms = []
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cols = [col.strip() for col in line.strip().strip("|").split("|")]
        if len(cols) < 4 or cols[0] in ("English", "") or set(cols[0]) <= set("-: "):
            continue
        english = tuple(name.strip("`") for name in _alternatives(cols[0], keep_short_parentheses=False))
        rendering = {lang: tuple(_alternatives(cols[col], keep_short_parentheses=True))
                     for lang, col in GLOSSARY_COLUMN.items()}
        terms.append(Term(english, rendering))
    return tuple(terms)  # parsed once per process; a tuple, so that no caller changes the cached terms


def _english_pattern(name: str) -> re.Pattern:
    # a whole word or phrase, plural allowed, not the tail or head of a hyphenated compound ("mini-batch")
    return re.compile(r"(?<![\w-])" + re.escape(name) + r"(?:s|es)?(?![\w-])", re.IGNORECASE)


def _rendered(render: str, text: str) -> bool:
    """Whether the prose ``text`` uses the glossary's rendering ``render``: a Latin-script rendering ("SGD",
    "He") as a whole word, so that "He" is not found in "Hessian" nor `epoch` in a code span."""
    if render.isascii():
        return re.search(r"(?<![A-Za-z0-9_-])" + re.escape(render) + r"(?![A-Za-z0-9_-])", text) is not None
    return render in text


def prose(markdown: str) -> str:
    """The markdown without code, formulas, link targets and HTML: the words a reader reads."""
    text = re.sub(r"```.*?```", " ", markdown, flags=re.DOTALL)
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"\$\$.*?\$\$|\$[^$]*\$", " ", text, flags=re.DOTALL)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return re.sub(r"<[^>]+>", " ", text)


def missing_terms(english: str, translated: str, lang: str, terms: tuple[Term, ...] | None = None) -> list[str]:
    """Glossary terms the English prose uses that the translation does not render as the glossary does; longer
    names are matched first and hide the shorter ones they contain ("batch size" hides "batch")."""
    terms = glossary_terms() if terms is None else terms
    names = sorted(((name, term) for term in terms for name in term.english if len(name) > 2),
                   key=lambda pair: -len(pair[0]))
    text, missing, read = prose(english), [], prose(translated)
    for name, term in names:
        pattern = _english_pattern(name)
        if not pattern.search(text):
            continue
        text = pattern.sub(" ", text)
        accepted = term.rendering[lang]
        if accepted and not any(_rendered(render, read) for render in accepted):
            missing.append(f"{name!r} → {' or '.join(accepted)}")
    return missing


def term_problems(lang: str, stem: str) -> dict[str, list[str]]:
    """Per translated cell, the glossary terms its translation lacks; a catalog's ``other_senses`` (cell id → English
    words) names the words a cell uses in another sense than the glossary's ("rank them", "a batch script")."""
    english = {cell["id"]: source(cell) for cell in read_notebook(NOTEBOOKS / f"{stem}.ipynb")["cells"]}
    catalog, terms, found = load_catalog(lang, stem), glossary_terms(), {}
    for cell_id, entry in catalog["cells"].items():
        if cell_id not in english:
            continue
        other = {word.lower() for word in catalog.get("other_senses", {}).get(cell_id, [])}
        missing = [what for what in missing_terms(english[cell_id], entry["text"], lang, terms)
                   if what.split(" → ")[0].strip("'").lower() not in other]
        if missing:
            found[cell_id] = missing
    return found


# --- command line -------------------------------------------------------------------------------------------
def _todo(lang: str, stem: str) -> None:
    english = read_notebook(NOTEBOOKS / f"{stem}.ipynb")
    catalog = load_catalog(lang, stem)
    for cell in english["cells"]:
        entry = catalog["cells"].get(cell["id"])
        if cell["cell_type"] == "markdown" and (entry is None or entry["en_sha256"] != sha256(source(cell))):
            print(f"--- markdown {cell['id']} ({'stale' if entry else 'new'})\n{source(cell)}\n")


def main(argv: list[str]) -> int:
    usage = ("usage: python3 lessons_src/editions.py build | check | todo LANG STEM | terms LANG STEM\n"
             "       | stamp LANG STEM\n"
             f"  LANG: one of {sorted(LANGUAGES)}; STEM: a notebook's name without .ipynb, e.g. 01_gradient_descent")
    if not argv or argv[0] not in ("build", "check", "todo", "terms", "stamp"):
        print(usage, file=sys.stderr)
        return 2
    if argv[0] == "build":
        for path in build():
            print("wrote", path.relative_to(ROOT))
        return 0
    if argv[0] == "check":
        bad = 0
        for lang in LANGUAGES:
            for stem in translated_stems(lang):
                found = problems(lang, stem)
                for problem in found:
                    print(problem)
                if not found:
                    path = edition_path(lang, stem)
                    want = notebook_text(build_notebook(lang, stem))
                    if not path.exists() or path.read_text(encoding="utf-8") != want:
                        found = [f"{path.relative_to(ROOT)} differs from what build writes now: run build"]
                        print(found[0])
                bad += len(found)
        return 1 if bad else 0
    if len(argv) != 3:
        print(usage, file=sys.stderr)
        return 2
    lang, stem = check_language(argv[1]), argv[2]
    if argv[0] == "todo":
        _todo(lang, stem)
        return 0
    if argv[0] == "stamp":
        print("wrote", stamp_corrections(lang, stem).relative_to(ROOT))
        return 0
    found = term_problems(lang, stem)
    for cell_id, missing in found.items():
        for what in missing:
            print(f"cell {cell_id}: {what}")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
