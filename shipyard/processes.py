"""Which processes exist, what they run and who their parents are: one reading of the process table for
everything that must tell a live process from a dead one (lock holders, the local control plane, orphaned
scratch files) or find the engine below Shipyard (interrupts)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

_PROC = Path("/proc")


def process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command name), from /proc where there is one, else `ps` (macOS)."""
    table: dict[int, tuple[int, str]] = {}
    if (_PROC / "self" / "stat").exists():
        for entry in _PROC.iterdir():
            if entry.name.isdigit():
                stat = _stat(int(entry.name))
                if stat is not None:
                    table[int(entry.name)] = (stat[2], stat[0])
        return table
    output = subprocess.run(["ps", "-A", "-o", "pid=,ppid=,comm="], capture_output=True, text=True,
                            timeout=10).stdout
    for line in output.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit():
            table[int(parts[0])] = (int(parts[1]), Path(parts[2]).name)
    return table


def descendants(root: int, name: str) -> list[int]:
    """Process ids of every process called `name` below `root`."""
    table = process_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _name) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: list[int] = []
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if table[pid][1] == name:
            found.append(pid)
        todo.extend(children.get(pid, []))
    return sorted(found)


def running(pid: int, name: str | None = None) -> bool:
    """Whether `pid` is a live process (not a zombie an init never reaped), and, with `name`, still runs
    that program (ids get reused)."""
    if (_PROC / "self" / "stat").exists():
        stat = _stat(pid)
        if stat is None or stat[1] in ("Z", "X"):
            return False
        if name is None:
            return True
        try:
            argv0 = (_PROC / str(pid) / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            return False
        # comm is truncated to 15 characters; the command line's first word is the program itself.
        return stat[0] == name or Path(argv0).name == name
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    return name is None or process_table().get(pid, (0, ""))[1] == name


def command_line(pid: int) -> list[str]:
    """The arguments `pid` was started with ([] when it is gone): how to tell one interpreter's program
    from another's, whose command names are all `python`."""
    if (_PROC / "self" / "stat").exists():
        try:
            raw = (_PROC / str(pid) / "cmdline").read_bytes()
        except OSError:
            return []
        return [part.decode(errors="replace") for part in raw.split(b"\0")[:-1]]
    # ps joins the arguments with spaces: good enough to find one that has none.
    output = subprocess.run(["ps", "-p", str(pid), "-o", "command="], capture_output=True, text=True,
                            timeout=10).stdout
    return output.split()


def _stat(pid: int) -> tuple[str, str, int] | None:
    """(command name, state, parent pid) from /proc/<pid>/stat, or None when it is gone."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split at the last ")".
    rest = stat[stat.rindex(")") + 2:].split()
    return stat[stat.index("(") + 1:stat.rindex(")")], rest[0], int(rest[1])
