"""What the scripts in ``bench/`` measured: their JSON records, for the notebooks that quote them.

A lesson whose full measurement takes minutes (five seeds, a grid of runs) shows the record the bench script
wrote instead of training again; :func:`bench_record` finds it wherever the notebook runs from (``notebooks/``,
an edition in ``notebooks/zh/``, a learner's copy on the class server).
"""

from __future__ import annotations

import json
from pathlib import Path

from lessons_src.language import tr

BENCH = Path(__file__).resolve().parents[1] / "bench"


def bench_record(name: str) -> dict:
    """The record ``bench/<name>.json`` (e.g. ``"training_recipes"``), as a dict."""
    path = BENCH / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in BENCH.glob("*.json")) if BENCH.is_dir() else []
        raise FileNotFoundError(tr("no record {path}: name must be one of {known}; run bench/{name}.py to write it "
                                   "(./course bench runs them all)", path=path, known=known, name=name))
    return json.loads(path.read_text(encoding="utf-8"))


__all__ = ["bench_record"]
