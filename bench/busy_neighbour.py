"""The longest training lesson, restart-and-run-all, while another program keeps one core busy.

PyTorch's CPU threads wait for each other at the end of every operation, so on 2 cores a busy
neighbour can make a 2-thread kernel many times slower; the training lessons' setup cell calls
``use_free_cores`` to train on the cores left free. This runs lesson 08 once alone and once beside a
busy-looping process, and records both times and the threads the lesson chose (from its setup
cell's output). Run on an otherwise idle machine: .venv/bin/python bench/busy_neighbour.py
Writes bench/busy_neighbour.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "notebooks" / "08_faster_and_better.ipynb"


def run(path: Path) -> tuple[float, str]:
    """(seconds for a fresh-kernel run of ``path``, the setup cell's printed line)."""
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    return seconds, "".join(o.get("text", "") for o in notebook.cells[1].outputs).strip()


if __name__ == "__main__":
    alone, alone_setup = run(LESSON)
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1)
        busy, busy_setup = run(LESSON)
    finally:
        spinner.kill()
        spinner.wait()
    report = {"when": time.strftime("%Y-%m-%d %H:%M"), "cpus": os.cpu_count(), "lesson": LESSON.name,
              "alone": {"seconds": round(alone, 1), "setup": alone_setup},
              "beside one busy process": {"seconds": round(busy, 1), "setup": busy_setup},
              "target_s": {"alone": 45, "beside one busy process": 60}}
    (ROOT / "bench" / "busy_neighbour.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
