"""Run a function over many items in forked workers, where no item can crash or hang the whole run.

`multiprocessing.Pool` waits forever for a worker that died (a segfault in a C extension, an OOM kill)
and has no per-item timeout. Here each worker streams one result per item back over a pipe, in order,
so the parent always knows which item a worker was on: when it dies or stays silent past the timeout,
that item alone gets a failure result and a fresh worker goes on with the rest of its share.
"""

from __future__ import annotations

import os
import pickle
import selectors
import signal
import struct
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_HEADER = struct.Struct("!I")


class _Failed:
    """Sent by a worker whose function raised: a bug, reported on the item instead of killing the run."""

    def __init__(self, why: str):
        self.why = why


def available() -> bool:
    return hasattr(os, "fork")


def map_forked(work: Callable[[T], R], items: list[T], jobs: int, timeout: float,
               failed: Callable[[T, str], R]) -> list[R]:
    """[work(item) for item in items], computed by `jobs` forked workers. An item whose worker dies, raises
    or takes longer than `timeout` seconds gets failed(item, why) instead."""
    results: list[Any] = [None] * len(items)
    selector = selectors.DefaultSelector()
    # fd -> [pid, indices, position, buffer, deadline]
    running: dict[int, list[Any]] = {}

    def start(indices: list[int]) -> None:
        if not indices:
            return
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which leaves only through os._exit
            code = 0
            try:
                os.close(read_end)
                for index in indices:
                    try:
                        result: Any = work(items[index])
                    except Exception as exc:  # a bug: reported on its item, the run goes on
                        result = _Failed(f"internal error ({type(exc).__name__}); please report it")
                    data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
                    view = memoryview(_HEADER.pack(len(data)) + data)
                    while view:
                        view = view[os.write(write_end, view):]
            except BaseException:
                code = 70
            finally:
                # Never the parent's cleanup (atexit hooks, buffered output, a test runner's teardown).
                os._exit(code)
        os.close(write_end)
        running[read_end] = [pid, indices, 0, bytearray(), time.monotonic() + timeout]
        selector.register(read_end, selectors.EVENT_READ)

    def stop(fd: int, why: str | None) -> None:
        """Retire a worker; when it had not finished, fail its current item and restart the rest."""
        pid, indices, position, _, _ = running.pop(fd)
        selector.unregister(fd)
        os.close(fd)
        if why is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _, status = os.waitpid(pid, 0)
        if position < len(indices):
            index = indices[position]
            results[index] = failed(items[index], why or _describe(status))
            start(indices[position + 1:])

    try:
        for share in range(jobs):
            start(list(range(share, len(items), jobs)))
        while running:
            now = time.monotonic()
            wait = max(0.0, min(state[4] for state in running.values()) - now)
            for key, _ in selector.select(wait):
                fd = key.fd
                state = running[fd]
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    stop(fd, None)
                    continue
                buffer = state[3]
                buffer += chunk
                while len(buffer) >= _HEADER.size:
                    (size,) = _HEADER.unpack_from(buffer)
                    if len(buffer) < _HEADER.size + size:
                        break
                    result = pickle.loads(bytes(buffer[_HEADER.size:_HEADER.size + size]))
                    del buffer[:_HEADER.size + size]
                    index = state[1][state[2]]
                    results[index] = failed(items[index], result.why) if isinstance(result, _Failed) else result
                    state[2] += 1
                    state[4] = time.monotonic() + timeout
            now = time.monotonic()
            for fd in [fd for fd, state in running.items() if state[4] <= now]:
                stop(fd, f"did not finish within {timeout:g} s")
    finally:
        for fd in list(running):  # interrupted: leave no worker behind
            pid = running.pop(fd)[0]
            os.close(fd)
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        selector.close()
    return results


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"crashed ({name})"
    return f"stopped unexpectedly (exit status {os.waitstatus_to_exitcode(status)})"
