"""The class roster: read it, and create or remove one system account per line (as root).

A roster is a CSV file with a header line. Columns:

- ``username`` (required): the account name, 1-32 characters of ``a-z 0-9 _ -``, starting with a
  letter or ``_``;
- ``password`` (optional): 8-256 characters, no control characters (line breaks, tabs, NUL); spaces
  at either end are dropped. Left empty, a random password is generated and written, with the
  others generated in the same run, to ``<state>/passwords-<time>.csv`` (mode 0600);
- ``role`` (optional): ``student`` (the default) or ``teacher``. Exactly one teacher, the hub's admin,
  named here or with ``--admin NAME``.

Accounts get a home directory of mode 0700 and join one Unix group (``course`` by default); the hub
lets in only members of that group. An account that already exists is kept as it is (its password
and home untouched) if it is in the group, and refused otherwise, so a roster can never take over
an account that is not the class's.
"""

from __future__ import annotations

import csv
import grp
import io
import os
import pwd
import re
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

NAME_PATTERN = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
ROLES = ("student", "teacher")
PASSWORD_LENGTH = (8, 256)  # chpasswd reads one line of at most 8 KiB per account
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class RosterError(ValueError):
    """A roster line or account request that cannot be honoured."""


@dataclass(frozen=True)
class Member:
    """One roster line: an account name, its password ('' = generate one) and its role."""

    name: str
    password: str
    role: str


def check_name(name: str, where: str) -> str:
    """Return ``name`` if it is a valid account name, else raise RosterError naming ``where``."""
    if not NAME_PATTERN.fullmatch(name):
        raise RosterError(f"{where}: username {name!r} is not a valid account name: use 1-32 characters "
                          "of a-z, 0-9, '_' or '-', starting with a letter or '_' (lowercase only)")
    return name


def check_password(password: str, name: str, where: str) -> str:
    """Return ``password`` if chpasswd can take it safely ('' = generate one), else raise RosterError.

    chpasswd reads ``name:password`` lines: a line break would start another account's line, so no
    control character may appear. A ':' is safe (the name, which cannot hold one, ends at the first).
    """
    low, high = PASSWORD_LENGTH
    if password and CONTROL.search(password):
        raise RosterError(f"{where}: the password for {name!r} holds a control character (a line break, tab or "
                          "NUL); use printable characters only, or leave it empty to have one generated")
    if password and not low <= len(password) <= high:
        raise RosterError(f"{where}: the password for {name!r} has {len(password)} characters; use {low} to "
                          f"{high}, or leave it empty to have one generated")
    return password


def roster_rows(text: str) -> list[tuple[int, list[str]]]:
    """(line number where the row starts, cells) of every non-blank CSV row."""
    reader = csv.reader(io.StringIO(text), strict=True)
    rows, end = [], 0
    while True:
        start = end + 1
        try:
            row = next(reader)
        except StopIteration:
            return rows
        except csv.Error as error:
            raise RosterError(f"roster line {start}: {error}; check the quotes on that line") from error
        end = reader.line_num
        if any(cell.strip() for cell in row):
            rows.append((start, row))


def parse_roster(text: str, admin: str | None = None, require_teacher: bool = True) -> list[Member]:
    """Members from roster CSV text; ``admin`` names the teacher if no line has role 'teacher'.

    A class's first roster must name its one teacher; a later one (``require_teacher=False``) may add
    students only.
    """
    rows = roster_rows(text)
    if not rows:
        raise RosterError("the roster is empty: write a header line 'username,password,role', then one line per "
                          "student")
    header = [cell.strip().lower() for cell in rows[0][1]]
    if "username" not in header or set(header) - {"username", "password", "role"} or len(set(header)) < len(header):
        raise RosterError(f"roster header {rows[0][1]!r}: the columns are username (required), password and role "
                          "(optional), each once, e.g. 'username,password,role'")
    members: list[Member] = []
    for number, row in rows[1:]:
        where = f"roster line {number}"
        if len(row) > len(header):
            raise RosterError(f"{where}: {len(row)} cells but the header names {len(header)} "
                              f"({', '.join(header)}); quote a cell that holds a comma (\"a,b\")")
        cells = dict(zip(header, (cell.strip() for cell in row), strict=False))
        name = check_name(cells.get("username", ""), where)
        role = (cells.get("role") or "student").lower()
        if role not in ROLES:
            raise RosterError(f"{where}: role {role!r} must be one of {', '.join(ROLES)}")
        if any(m.name == name for m in members):
            raise RosterError(f"{where}: {name!r} is listed twice; keep one line per account")
        members.append(Member(name, check_password(cells.get("password", ""), name, where), role))
    if admin is not None:
        check_name(admin, "--admin")
        if not any(m.name == admin for m in members):
            raise RosterError(f"--admin {admin!r} is not in the roster; add a line for the teacher")
        members = [Member(m.name, m.password, "teacher" if m.name == admin else m.role) for m in members]
    teachers = [m.name for m in members if m.role == "teacher"]
    if len(teachers) > 1 or (require_teacher and not teachers):
        raise RosterError(f"the class needs exactly one teacher (the hub's admin), found {len(teachers)}"
                          f"{': ' + ', '.join(teachers) if teachers else ''}; mark one line's role 'teacher' or "
                          "pass --admin NAME")
    if not any(m.role == "student" for m in members):
        raise RosterError("the roster lists no students; add one line per student")
    return members


def read_roster(path: Path, admin: str | None = None, require_teacher: bool = True) -> list[Member]:
    """Members from a roster file (see ``parse_roster``)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as error:
        raise RosterError(f"cannot read the roster {path}: {error.strerror}") from error
    return parse_roster(text, admin, require_teacher)


def in_group(name: str, group: str) -> bool:
    """True if account ``name`` belongs to Unix group ``group`` (primary or supplementary)."""
    try:
        gid = grp.getgrnam(group).gr_gid
        user = pwd.getpwnam(name)
    except KeyError:
        return False
    return gid in os.getgrouplist(name, user.pw_gid)


def _run(command: list[str], stdin: str | None = None) -> None:
    result = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RosterError(f"{' '.join(command[:2])} ... failed: {result.stderr.strip() or result.returncode}")


def create_accounts(members: list[Member], group: str) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """Create missing accounts in ``group``; return [(name, 'created'|'kept')] and generated passwords."""
    for member in members:  # every check before the first change to the system
        check_name(member.name, "account")
        check_password(member.password, member.name, "account")
        try:
            pwd.getpwnam(member.name)
        except KeyError:
            continue
        if not in_group(member.name, group):
            raise RosterError(f"account {member.name!r} already exists and is not in group {group!r}; the hub will "
                              "not take over an account that is not the class's: rename the roster line, or add "
                              f"the account to the group yourself (usermod -aG {group} {member.name})")
    try:
        grp.getgrnam(group)
    except KeyError:
        _run(["groupadd", group])
    actions, generated = [], {}
    for member in members:
        try:
            pwd.getpwnam(member.name)
            actions.append((member.name, "kept"))
            continue
        except KeyError:
            pass
        _run(["useradd", "--create-home", "--shell", "/bin/bash", "--groups", group, member.name])
        os.chmod(pwd.getpwnam(member.name).pw_dir, 0o700)
        password = member.password or secrets.token_urlsafe(9)
        if not member.password:
            generated[member.name] = password
        _run(["chpasswd"], stdin=f"{member.name}:{password}\n")
        actions.append((member.name, "created"))
    return actions, generated


def remove_accounts(names: list[str], group: str, keep_homes: bool = False) -> list[tuple[str, str]]:
    """Delete the accounts of ``names`` that are in ``group`` (and their homes unless ``keep_homes``)."""
    actions = []
    for name in names:
        if not in_group(name, group):
            actions.append((name, "skipped (no such account in the class group)"))
            continue
        _run(["userdel"] + ([] if keep_homes else ["--remove"]) + [name])
        actions.append((name, "removed"))
    return actions


def remove_empty_group(group: str) -> bool:
    """Delete Unix group ``group`` if it exists and no account lists it; True if it was deleted."""
    try:
        entry = grp.getgrnam(group)
    except KeyError:
        return False
    if entry.gr_mem or any(user.pw_gid == entry.gr_gid for user in pwd.getpwall()):
        return False
    _run(["groupdel", group])
    return True


def write_passwords(state: Path, generated: dict[str, str], stamp: str) -> Path | None:
    """Write generated passwords to ``<state>/passwords-<stamp>.csv`` (mode 0600); None if there were none."""
    if not generated:
        return None
    path = Path(state) / f"passwords-{stamp}.csv"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["username", "password"])
        writer.writerows(sorted(generated.items()))
    return path
