"""The language the helpers speak: English, 中文 or 日本語, from one message table per language.

Every sentence a learner reads from the helpers (a check's verdict, a hint, a readout, a figure label) is
written in English inside :func:`tr`, with its variable parts as ``{name}`` fields::

    tr("✓ {what}: {detail}.", what=what, detail=detail)

:func:`tr` looks the English text up in the table of the language in use (``lessons_src/messages/zh.po``,
``ja.po``: standard gettext catalogs, msgid = the English text) and fills the fields; a message a table lacks
is shown in English. The language is ``COURSE_LANG`` from the environment (``./course lab --lang zh`` sets it)
or what a notebook's setup cell asks for with :func:`use_language`; English by default.
"""

from __future__ import annotations

import ast
import os
from functools import cache
from pathlib import Path

LANGUAGES = {"en": "English", "zh": "中文", "ja": "日本語"}
MESSAGES = Path(__file__).resolve().parent / "messages"
# the CJK fonts matplotlib may fall back to for characters its default font lacks, best first: Noto (Debian's
# fonts-noto-cjk, which ./course setup installs where it can) or Source Han Sans, then macOS's and Windows's own
CJK_FONTS = {"zh": ("Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei"),
             "ja": ("Noto Sans CJK JP", "Source Han Sans JP", "Hiragino Sans", "Yu Gothic")}


def _installed_fonts() -> set[str]:
    """The names of the fonts matplotlib finds on this machine."""
    from matplotlib import font_manager

    return {font.name for font in font_manager.fontManager.ttflist}


def cjk_fonts_installed() -> bool:
    """Whether matplotlib finds a CJK font for every language that needs one (``./course setup`` asks)."""
    installed = _installed_fonts()
    return all(any(name in installed for name in fonts) for fonts in CJK_FONTS.values())


def cjk_font(lang: str) -> str:
    """The first of ``lang``'s CJK fonts that matplotlib finds on this machine (the first of all if none is, so
    that matplotlib's warning names the font to install)."""
    installed = _installed_fonts()
    return next((name for name in CJK_FONTS[lang] if name in installed), CJK_FONTS[lang][0])


def check_language(lang: object, where: str = "lang") -> str:
    """``lang`` if it is one of the course's languages; a ValueError naming ``where`` and the choices if not."""
    if lang not in LANGUAGES:
        choices = ", ".join(f"{code!r} ({name})" for code, name in LANGUAGES.items())
        raise ValueError(f"{where} must be one of {choices}, got {lang!r}")
    return str(lang)


_current = check_language(os.environ.get("COURSE_LANG") or "en", "the environment variable COURSE_LANG")


def current_language() -> str:
    """The language the helpers speak now."""
    return _current


def use_language(lang: str) -> str:
    """Make the helpers speak ``lang`` ("en", "zh" or "ja") from now on in this kernel and in the processes it
    starts (``COURSE_LANG``: lesson 14's workers), and let figures draw its characters (the CJK font after
    matplotlib's own, so Latin letters and digits look as before); returns it."""
    global _current
    _current = check_language(lang)
    os.environ["COURSE_LANG"] = _current
    import matplotlib as mpl

    mpl.rcParams["font.family"] = ["sans-serif", cjk_font(lang)] if lang in CJK_FONTS else ["sans-serif"]
    return _current


def _unquote(line: str) -> str:
    return ast.literal_eval(line.strip())


def read_po(path: Path) -> dict[str, str]:
    """A gettext catalog's translations, msgid → msgstr (entries with an empty msgstr left out)."""
    entries: dict[str, str] = {}
    msgid = msgstr = None
    field = None

    def finish() -> None:
        if msgid and msgstr:
            entries[msgid] = msgstr

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("msgid "):
            finish()
            msgid, msgstr, field = _unquote(line[6:]), None, "msgid"
        elif line.startswith("msgstr "):
            msgstr, field = _unquote(line[7:]), "msgstr"
        elif line.startswith('"'):
            if field == "msgid":
                msgid += _unquote(line)
            elif field == "msgstr":
                msgstr += _unquote(line)
        else:
            raise ValueError(f"{path}: cannot read the line {raw!r} (only msgid, msgstr and quoted lines)")
    finish()
    return entries


@cache
def table(lang: str) -> dict[str, str]:
    """The message table of ``lang`` (empty for English, the source)."""
    path = MESSAGES / f"{check_language(lang)}.po"
    return read_po(path) if lang != "en" and path.exists() else {}


def tr(message: str, /, **fields: object) -> str:
    """``message`` in the language in use (English where its table lacks it), with its ``{fields}`` filled."""
    text = table(_current).get(message, message)
    return text.format(**fields) if fields else text


def messages_in_code() -> dict[str, str]:
    """Every message the helpers pass to :func:`tr`, with where it is first used (file:line)."""
    found: dict[str, str] = {}
    for path in sorted(MESSAGES.parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "tr"
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                found.setdefault(node.args[0].value, f"{path.name}:{node.lineno}")
    return found


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def write_po(lang: str) -> Path:
    """Bring ``messages/<lang>.po`` up to date with the code: every message in it, the translations kept, new ones
    empty (to be filled), messages no longer used dropped."""
    path = MESSAGES / f"{check_language(lang)}.po"
    known = read_po(path) if path.exists() else {}
    lines = [f"# {LANGUAGES[lang]} messages of the course helpers; msgid is the English text in lessons_src.",
             'msgid ""', 'msgstr "Content-Type: text/plain; charset=UTF-8\\n"', ""]
    for message, where in messages_in_code().items():
        lines += [f"#: {where}", f"msgid {_quoted(message)}", f"msgstr {_quoted(known.get(message, ''))}", ""]
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    table.cache_clear()
    return path


if __name__ == "__main__":  # python3 lessons_src/language.py: bring both tables up to date with the code
    for code in LANGUAGES:
        if code != "en":
            print("wrote", write_po(code))


__all__ = ["LANGUAGES", "check_language", "cjk_font", "cjk_fonts_installed", "current_language", "read_po", "tr",
           "use_language"]
