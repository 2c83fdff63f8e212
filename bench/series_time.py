"""Restart-and-run-all of every notebook, in order, each in a fresh kernel; prints seconds per notebook.

This is what a learner's "Restart Kernel and Run All Cells" costs, and what the README's lesson table
and whole-series figure report (tests/test_bench_records.py checks them against bench/series_time.json,
which this script writes). Run on an idle machine: .venv/bin/python bench/series_time.py
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def run_notebook(path: Path) -> float:
    """Execute ``path`` top to bottom in a new kernel (in its own folder); return the wall time in s."""
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


if __name__ == "__main__":
    times = {path.name: round(run_notebook(path), 1) for path in sorted((ROOT / "notebooks").glob("*.ipynb"))}
    report = {"when": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
              "load_avg_after": os.getloadavg(), "seconds per notebook": times,
              "whole series (s)": round(sum(times.values()), 1)}
    (ROOT / "bench" / "series_time.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=2))
