"""Ctrl-C and a cancelled CI job's SIGTERM stop Shipyard the way they stop the Pulumi CLI: cleanly.

The engine runs as a `pulumi` child process. Its first SIGINT means "finish the steps in flight, save the
state, release the stack lock, exit"; a second one means "stop now". A terminal's Ctrl-C reaches the
whole foreground process group, `pulumi` included; a CI runner's SIGTERM (or a `kill`) reaches only us,
and dying at once would orphan the engine mid-update and leave its lock behind. So the first signal is
forwarded to every running `pulumi` below this process as one SIGINT (unless the terminal already
delivered it), the engine call is left to return, and only then does Shipyard stop with 128 + the
signal (130 for SIGINT, 143 for SIGTERM). With no engine running, it stops at once. A second signal is
forwarded too: the engine stops immediately and `shipyard unlock` clears what it leaves.
"""

from __future__ import annotations

import os
import signal
from types import FrameType

from shipyard.processes import descendants

_received: list[int] = []
_callbacks: list = []


class Interrupted(BaseException):
    """A signal asked Shipyard to stop. Like KeyboardInterrupt it is not an `Exception`: no handler of
    ordinary errors may swallow it. The CLI turns it into exit code 128 + the signal number."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


def install() -> None:
    """Handle SIGINT and SIGTERM in this process (stack workers install it too: `shipyard.runner`)."""
    _received.clear()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _handle)


def settle() -> None:
    """The run is over and its exit code decided: a signal from now on changes nothing. Python puts the default
    handlers back while the interpreter shuts down (gRPC threads and atexit hooks can take a moment), so a
    SIGTERM landing then would kill the process with the signal after the work had finished. Ignored
    signals stay ignored through shutdown."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)


def on_signal(callback) -> None:
    """Call `callback()` on the first signal (e.g. to tell stack workers to start nothing new)."""
    _callbacks.append(callback)


def pending() -> bool:
    """Whether a signal asked Shipyard to stop (start nothing new)."""
    return bool(_received)


def check() -> None:
    """Raise `Interrupted` if a signal arrived while the engine was finishing; call after each engine call."""
    if _received:
        raise Interrupted(_received[0])


def _handle(signum: int, _frame: FrameType | None) -> None:
    first = not _received
    _received.append(signum)
    if first:
        for callback in _callbacks:
            callback()
    engines = pulumi_descendants()
    if not engines:
        raise Interrupted(_received[0])
    for pid in engines:
        if signum == signal.SIGINT and first and _terminal_delivered(pid):
            continue  # Ctrl-C already reached it with the rest of the foreground group: once is graceful
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            pass
    if first:
        # Straight to the file descriptor: print() from a signal handler can hit a reentrant write of the
        # main thread (engine output) and raise.
        os.write(2, f"{signal.Signals(signum).name}: letting the engine finish its in-flight steps, save the state "
                    "and release the stack lock (signal again to stop at once)\n".encode())


def pulumi_descendants(root: int | None = None) -> list[int]:
    """Process ids of every `pulumi` CLI process below `root` (default: this process)."""
    return descendants(os.getpid() if root is None else root, "pulumi")


def _terminal_delivered(pid: int) -> bool:
    """True when `pid` is in the terminal's foreground process group (where Ctrl-C is delivered)."""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:
        return False  # no controlling terminal (CI): the signal came from `kill`, to us alone
    try:
        return os.tcgetpgrp(fd) == os.getpgid(pid)
    except OSError:
        return False
    finally:
        os.close(fd)
