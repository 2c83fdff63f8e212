"""Copy the course into a student's home, and update it later without losing the student's edits.

Run as the student (the hub starts it with the student's uid before each server start, and
``course_hub.py distribute`` does the same for every account), so it can only touch what the
student owns. Standard library only: it starts in a fraction of a second.

For every course file (``notebooks/``, ``figures/``, ``bench/`` -- lessons 05, 08, 09 and 10 read measured
records there --, ``GLOSSARY.md``) the copy in ``<dest>`` is:

- ``added`` when the student has no such file (``restored`` if it was delivered before and removed);
- ``updated`` when the student did not edit the delivered version and the course changed;
- ``unchanged`` when it already matches the course;
- ``kept`` when the student edited it and the course did not change since it was delivered;
- ``conflict`` when both changed: the student's file stays as it is, the course's new version is
  written beside it as ``<name>.course-update<suffix>`` and a line in ``COURSE-UPDATES.md`` says so.

A notebook counts as edited when its cells' types or sources differ from the delivered version;
running it (outputs, execution counts, widget state) is not an edit. Other files compare by bytes.
``<dest>/.course-manifest.json`` remembers the fingerprint of each delivered version.

Usage: python hub_sync.py --source <course checkout> --dest <home>/course   (prints a JSON report)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

COURSE_ITEMS = ("notebooks", "figures", "bench", "GLOSSARY.md")
MANIFEST = ".course-manifest.json"
UPDATES_NOTE = "COURSE-UPDATES.md"
UPDATE_TAG = ".course-update"
SKIPPED_PARTS = {".ipynb_checkpoints", "__pycache__"}


def course_files(source: Path) -> list[str]:
    """Relative POSIX paths of the course files under ``source``, sorted."""
    found = []
    for item in COURSE_ITEMS:
        path = source / item
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in candidates:
            rel = file.relative_to(source)
            if not SKIPPED_PARTS.intersection(rel.parts) and not any(p.startswith(".") for p in rel.parts):
                found.append(rel.as_posix())
    return sorted(found)


def fingerprint(path: Path) -> str:
    """SHA-256 of a notebook's cell types and sources (outputs ignored), or of any other file's bytes."""
    data = path.read_bytes()
    if path.suffix == ".ipynb":
        try:
            cells = json.loads(data)["cells"]
            data = json.dumps([[c["cell_type"], "".join(c["source"])] for c in cells]).encode()
        except (ValueError, KeyError, TypeError):
            pass  # not a readable notebook: compare bytes
    return hashlib.sha256(data).hexdigest()


def beside_name(rel: str) -> str:
    """Where the course's new version goes when the student edited ``rel``: ``a/b.course-update.ipynb``."""
    path = Path(rel)
    return path.with_name(path.stem + UPDATE_TAG + path.suffix).as_posix()


def decide(rel: str, src_fp: str, dest_fp: str | None, delivered_fp: str | None) -> str:
    """The action for one file from three fingerprints (None: no such file / never delivered)."""
    if dest_fp is None:
        return "restored" if delivered_fp is not None else "added"
    if dest_fp == src_fp:
        return "unchanged"
    if dest_fp == delivered_fp:
        return "updated"
    if src_fp == delivered_fp:
        return "kept"
    return "conflict"


def copy_atomically(src: Path, dest: Path) -> None:
    """Copy ``src`` to ``dest`` through a temporary file in the same folder, so a reader never sees half."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".sync-")
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            shutil.copyfileobj(inp, out)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_manifest(dest: Path) -> dict[str, str]:
    """Fingerprints of the versions delivered last time ({} the first time or if unreadable)."""
    try:
        files = json.loads((dest / MANIFEST).read_text())["files"]
        return {str(k): str(v) for k, v in files.items()}
    except (OSError, ValueError, KeyError, AttributeError):
        return {}


def sync_course(source: Path, dest: Path) -> list[dict[str, str]]:
    """Bring ``dest`` up to date with ``source``; return one {"path", "action"} record per course file."""
    source, dest = Path(source), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    delivered = load_manifest(dest)
    report, notes = [], []
    for rel in course_files(source):
        src, target = source / rel, dest / rel
        src_fp = fingerprint(src)
        if target.exists() and not target.is_file():
            report.append({"path": rel, "action": "blocked", "detail": "a folder has this file's name"})
            continue
        dest_fp = fingerprint(target) if target.is_file() else None
        action = decide(rel, src_fp, dest_fp, delivered.get(rel))
        record = {"path": rel, "action": action}
        if action in ("added", "restored", "updated"):
            copy_atomically(src, target)
            delivered[rel] = src_fp
        elif action == "unchanged":
            delivered[rel] = src_fp
        elif action == "conflict":
            beside = dest / beside_name(rel)
            if not beside.is_file() or fingerprint(beside) != src_fp:
                copy_atomically(src, beside)
                notes.append(f"- {time.strftime('%Y-%m-%d %H:%M')}: you edited `{rel}`, so it was kept as it "
                             f"is; the course's new version is beside it as `{beside_name(rel)}`.\n")
            record["beside"] = beside_name(rel)
        report.append(record)
    manifest = {"source": str(source), "updated": time.strftime("%Y-%m-%dT%H:%M:%S"), "files": delivered}
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    if notes:
        note = dest / UPDATES_NOTE
        head = "" if note.exists() else "# Course updates\n\nWhat changed when the course was updated.\n\n"
        with open(note, "a", encoding="utf-8") as out:
            out.write(head + "".join(notes))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="the course checkout (holds notebooks/)")
    parser.add_argument("--dest", type=Path, required=True, help="the student's copy, e.g. ~/course")
    args = parser.parse_args(argv)
    if not (args.source / "notebooks").is_dir():
        parser.error(f"--source {args.source} has no notebooks/ folder; pass the course checkout")
    json.dump(sync_course(args.source, args.dest), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
