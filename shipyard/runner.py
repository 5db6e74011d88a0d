"""Run one engine operation over many stacks, several at a time, and grade what each would change.

A stack's Pulumi program runs inside the process that drives it (inline program), and the Pulumi
runtime is process-global, so parallel stacks run in separate worker processes (spawned, not
forked: the parent may hold gRPC threads). Each worker prefixes its engine output with the stack.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import random
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard import interrupts
from shipyard.cost import COST_OUTPUT, stack_cost
from shipyard.engine import Engine, Outcome, ResourceChange
from shipyard.errors import (ConcurrentUpdateError, InvalidInputError, ShipyardError, StackNotAppliedError,
                             StaleLockError)

RISKY_OPS = {"replace", "create-replacement", "delete-replaced", "delete", "discard"}
# Replacing or deleting these loses a cluster, its capacity, its network or a team's namespace.
HIGH_RISK_TYPES = {
    "shipyard:cluster:Cluster", "aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup",
    "aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/natGateway:NatGateway",
    "aws:ec2/internetGateway:InternetGateway", "aws:ec2/routeTable:RouteTable",
    "kubernetes:core/v1:Namespace", "pulumi:providers:kubernetes",
}
ADDON_TYPE = "kubernetes:helm.sh/v4:Chart"
COSTED = {"preview", "up"}


def risk_of(changes: list[ResourceChange]) -> str:
    """`high`: replacing/deleting a cluster, node group, network or namespace; `medium`: an add-on's chart
    version (or chart) changes; `low`: anything else; `none`: no change."""
    if not changes:
        return "none"
    if any(c.op in RISKY_OPS and c.type in HIGH_RISK_TYPES for c in changes):
        return "high"
    if any(c.type == ADDON_TYPE and c.op != "create" and {"version", "chart"} & set(c.properties)
           for c in changes):
        return "medium"
    return "low"


NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


def change_notes(changes: list[ResourceChange], autoscaled: bool) -> list[str]:
    """What a reviewer should know about some changes before they apply. `autoscaled`: an autoscaler owns the
    stack's node groups' live size."""
    notes = []
    for change in changes:
        if change.type != NODE_GROUP:
            continue
        if change.op == "replace" and change.replacement == "create-before-delete":
            notes.append(f"{change.name}: a new node group is created (and its nodes join) before the old one is "
                         "deleted; the old nodes are drained as it goes")
        elif autoscaled and change.op == "update" and "scalingConfig.minSize" in change.properties:
            notes.append(f"{change.name}: minSize changes while the autoscaler owns the live size; if the group "
                         "runs fewer nodes than the new minSize, AWS refuses the update: let the autoscaler scale "
                         "up first, or raise the live size (aws eks update-nodegroup-config --scaling-config "
                         "desiredSize=N), then apply")
    return notes


def _autoscaled(root: Path, stack: str) -> bool:
    from shipyard.repo import Repo
    from shipyard.validation import check_stack

    repo = Repo(root)
    checked = check_stack(root, repo.stack(stack).path, repo.local_kubernetes_minor)
    return checked.stack is not None and checked.catalog is not None and checked.catalog.autoscaled(checked.stack)


@dataclass
class StackReport:
    stack: str
    operation: str
    changes: list[ResourceChange] = field(default_factory=list)
    summary: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def risk(self) -> str:
        return risk_of(self.changes)

    def counts(self) -> dict[str, int]:
        out = {"create": 0, "update": 0, "replace": 0, "delete": 0}
        for change in self.changes:
            key = "replace" if change.op in ("replace", "create-replacement", "delete-replaced") else change.op
            if key in out:
                out[key] += 1
        return out

    def as_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "operation": self.operation, "risk": self.risk, "counts": self.counts(),
                "summary": self.summary, "error": self.error, "seconds": round(self.seconds, 2),
                "changes": [c.as_json() for c in self.changes], **self.extra}


Log = Callable[[str], None]


_stop: Any = None
"""In a stack worker: the event the main process sets when a signal asked it to stop."""


def _init_worker(stop: Any) -> None:
    global _stop
    _stop = stop
    interrupts.install()  # a terminal's Ctrl-C reaches workers too: let their engine finish cleanly


def _run_one(root: str, operation: str, stack: str, wait: bool, prefix: bool,
             options: dict[str, Any] | None = None) -> StackReport:
    """One stack, one operation; never raises (errors are part of the report) but `Interrupted`."""
    if (_stop is not None and _stop.is_set()) or interrupts.pending():
        return StackReport(stack, operation, error="not started: Shipyard was interrupted", extra=_errored(operation))
    def log(line: str) -> None:
        print(f"[{stack}] {line}" if prefix else line, file=sys.stderr, flush=True)

    engine = Engine(Path(root), log=log)
    started = time.monotonic()
    delay = 2.0
    while True:
        try:
            if operation == "drift":
                return _drift(engine, stack, started)
            outcome: Outcome = getattr(engine, operation)(stack, **(options or {}))
            # Compared with the estimate the last successful up exported (the engine's view before this run).
            extra = ({"cost": stack_cost(engine.root, stack, outcome.applied_outputs.get(COST_OUTPUT)),
                      "repairs": outcome.repairs,
                      "notes": change_notes(outcome.changes, _autoscaled(engine.root, stack))
                      if any(c.type == NODE_GROUP for c in outcome.changes) else []}
                     if operation in COSTED else {})
            return StackReport(stack, operation, outcome.changes, outcome.summary,
                               seconds=time.monotonic() - started, extra=extra)
        except ConcurrentUpdateError as exc:
            # A lock whose holder is gone never clears by itself: waiting would only burn the 15 minutes.
            if not wait or isinstance(exc, StaleLockError) or time.monotonic() - started > 15 * 60:
                return StackReport(stack, operation, error=str(exc), seconds=time.monotonic() - started)
            log(f"another update of {stack} is running; retrying in {delay:.0f} s")
            # Jittered: DIY backends lock optimistically, so two runs that start together both back off;
            # retrying in lockstep would collide again.
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 60)
        except InvalidInputError as exc:
            return StackReport(stack, operation, error="invalid stack file:\n" + "\n".join(
                d.as_text() for d in exc.diagnostics), seconds=time.monotonic() - started, extra=_errored(operation))
        except ShipyardError as exc:
            return StackReport(stack, operation, error=str(exc), seconds=time.monotonic() - started,
                               extra=_errored(operation))


def _errored(operation: str) -> dict[str, Any]:
    return {"status": "error"} if operation == "drift" else {}


def _drift(engine: Engine, stack: str, started: float) -> StackReport:
    """Two findings: live drift (a refresh preview: the running state moved since the last deployment)
    and pending changes (a preview: Git says something that was never applied)."""
    from concurrent.futures import ThreadPoolExecutor

    # The live read (state export + kubectl) runs no program, so it overlaps the preview.
    with ThreadPoolExecutor(1) as pool:
        reading = pool.submit(engine.refresh_preview, stack)
        # A drift check never creates a stack, whatever the state mode.
        pending = [dataclasses.replace(c, source="git")
                   for c in engine.preview(stack, create_stack=False, repairs=False).changes]
        try:
            live = [dataclasses.replace(c, source="live") for c in reading.result().changes]
        except StackNotAppliedError:
            live = []  # never applied: nothing live to drift; everything is pending
    changes = live + pending
    return StackReport(stack, "drift", changes, seconds=time.monotonic() - started,
                       extra={"status": "drift" if changes else "clean"})


def run_stacks(root: Path, operation: str, stacks: list[str], parallel: int = 1, wait: bool = False,
               log: Log | None = None, options: dict[str, Any] | None = None) -> list[StackReport]:
    """`operation` (preview, up, refresh_preview...) on each stack, with keyword `options` for the engine
    method; reports in the order given."""
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    if not stacks:
        return []
    Engine(root).env()  # creates the passphrase and state dirs once, before workers race for them
    if parallel <= 1 or len(stacks) == 1:
        reports = []
        for stack in stacks:
            interrupts.check()  # stopping: start no further stack
            log(f"==> {operation.replace('_', ' ')} {stack}")
            reports.append(_run_one(str(root), operation, stack, wait, prefix=False, options=options))
        return reports
    log(f"==> {operation.replace('_', ' ')} of {len(stacks)} stacks, {parallel} at a time")
    by_stack: dict[str, StackReport] = {}
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    interrupts.on_signal(stop.set)  # workers check it before each stack: a signal starts nothing new
    with ProcessPoolExecutor(max_workers=min(parallel, len(stacks)), mp_context=context,
                             initializer=_init_worker, initargs=(stop,)) as pool:
        futures = {pool.submit(_run_one, str(root), operation, stack, wait, True, options): stack
                   for stack in stacks}
        try:
            for future in as_completed(futures):
                if interrupts.pending():
                    pool.shutdown(wait=False, cancel_futures=True)
                if future.cancelled():
                    continue
                report = future.result()
                by_stack[report.stack] = report
                state = "failed" if report.error else f"{len(report.changes)} change(s)"
                log(f"==> {report.stack}: {state} ({report.seconds:.1f} s)")
        except BaseException:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)  # the running ones finish cleanly; no new one starts
            raise
    interrupts.check()
    return [by_stack.get(s) or StackReport(s, operation, error="not started: Shipyard was interrupted",
                                           extra=_errored(operation)) for s in stacks]
