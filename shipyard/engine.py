"""The one module that talks to Pulumi's Automation API.

Everything else calls `Engine`; it raises only `ShipyardError`s. Stacks run the repository's own
`__main__.py` as an inline program: the Automation API serves it from this process through its
in-process language server, so no `pulumi-language-python` host is needed (that Go module is not
served by the module proxy; see README, "Toolchain").

State defaults to a file backend at `$SHIPYARD_HOME/state`, secrets to a passphrase provider whose
passphrase is generated on first use and kept (mode 0600) at `$SHIPYARD_HOME/passphrase`.
`PULUMI_BACKEND_URL` and `PULUMI_CONFIG_PASSPHRASE` override them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import runpy
import secrets
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.errors import ConcurrentUpdateError, EngineError, InvalidInputError, ToolError
from shipyard.paths import shipyard_home
from shipyard.repo import Repo
from shipyard.tools import Toolchain

PROJECT = "shipyard"
STACK_CONFIG_DIR = ".shipyard/stack-config"
"""Pulumi.yaml's `stackConfigDir`: per-stack config (encryption salt, secret values) stays out of Git."""
Log = Callable[[str], None]
# The program mutates process-wide state (cwd, sys.path, pulumi's runtime settings): one engine
# operation at a time per process.
_PROCESS_LOCK = threading.Lock()


@dataclass(frozen=True)
class ResourceChange:
    """One resource the engine would (or did) change, with the property paths that differ."""

    urn: str
    type: str
    name: str
    op: str
    properties: tuple[str, ...] = ()
    source: str | None = None
    """For drift checks: `live` (the running state moved) or `git` (Git says something never applied)."""

    def as_json(self) -> dict[str, Any]:
        out = {"urn": self.urn, "type": self.type, "name": self.name, "op": self.op,
               "properties": list(self.properties)}
        if self.source:
            out["source"] = self.source
        return out


@dataclass
class Outcome:
    """What one engine operation did (or would do) to one stack."""

    stack: str
    operation: str
    changes: list[ResourceChange] = field(default_factory=list)
    summary: dict[str, int] = field(default_factory=dict)
    applied_outputs: dict[str, Any] = field(default_factory=dict)
    """Previews and ups: the stack outputs of the last successful update before this one (secrets masked),
    read from the engine's own events rather than another CLI call."""

    @property
    def changed(self) -> bool:
        return bool(self.changes)


class Engine:
    """Preview, apply, refresh and destroy team stacks of one repository with the real engine."""

    def __init__(self, root: Path, toolchain: Toolchain | None = None, log: Log | None = None):
        self.root = root.resolve()
        self.repo = Repo(self.root)
        self.toolchain = toolchain or Toolchain(self.root)
        self.home = shipyard_home(self.root)
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))

    # -- environment ------------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """Variables for every Pulumi CLI call. Nothing needs to be set by hand."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.toolchain.bin_dirs()  # one clear error naming every missing tool
        pulumi_home = os.environ.get("PULUMI_HOME") or str(self.home / "pulumi-home")
        self._install_provider(Path(pulumi_home))
        bin_dirs = [str(self.toolchain.binary("pulumi").parent)]
        state = self.home / "state"
        state.mkdir(parents=True, exist_ok=True)
        (self.root / STACK_CONFIG_DIR).mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": os.pathsep.join(bin_dirs + [os.environ.get("PATH", "")]),
            "PULUMI_BACKEND_URL": os.environ.get("PULUMI_BACKEND_URL") or state.as_uri(),
            "PULUMI_CONFIG_PASSPHRASE": self._passphrase(),
            "PULUMI_HOME": pulumi_home,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            # Nothing can be downloaded here: a missing plugin must fail at once, naming the plugin.
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
            # Git is the source of truth: when someone took over a field Shipyard sets (kubectl scale,
            # edit, patch), the next apply takes it back instead of failing on a field-manager conflict.
            "PULUMI_K8S_ENABLE_PATCH_FORCE": "true",
            # The Python the policy pack's analyzer shim runs the pack with (its own virtual environment).
            "SHIPYARD_POLICY_PYTHON": str(_policy_python()),
        }
        return env

    def _install_provider(self, pulumi_home: Path) -> None:
        """Put the built Kubernetes provider in the plugin cache at its exact version, as
        `pulumi plugin install --file` would: found without any download, and version-checked."""
        version = self.toolchain.kubernetes_provider_version
        target = pulumi_home / "plugins" / f"resource-kubernetes-v{version}"
        binary = target / "pulumi-resource-kubernetes"
        source = self.toolchain.binary("pulumi-resource-kubernetes")
        if binary.is_file() and binary.stat().st_size == source.stat().st_size:
            return
        staging = target.with_name(target.name + f".partial-{os.getpid()}")
        staging.mkdir(parents=True, exist_ok=True)
        import shutil

        shutil.copy2(source, staging / binary.name)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
        target.with_name(target.name + ".lock").touch()

    def _passphrase(self) -> str:
        if os.environ.get("PULUMI_CONFIG_PASSPHRASE"):
            return os.environ["PULUMI_CONFIG_PASSPHRASE"]
        path = self.home / "passphrase"
        if not path.is_file():
            # Written under a temporary name and renamed: a concurrent reader never sees half a passphrase.
            temp = self.home / f".passphrase.{os.getpid()}"
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32))
            try:
                os.link(temp, path)  # fails if another process won the race: keep theirs
            except FileExistsError:
                pass
            finally:
                temp.unlink()
        return path.read_text().strip()

    # -- operations -------------------------------------------------------------------------------
    def preview(self, name: str, on_output: Log | None = None) -> Outcome:
        """What an up would change. The policy pack (`policies/`) checks every resource; a violation is an
        `EngineError` listing each one."""
        with self._stack(name) as stack, _Guardrails(self.root, self.home, name, "preview") as guard:
            events = _EventCollector()
            result = self._call(name, lambda: stack.preview(on_output=on_output or self._out,
                                                            on_event=guard.watch(events), diff=False,
                                                            color="never", **guard.options), guard)
            return Outcome(name, "preview", events.changes(), _summary(result.change_summary), events.applied_outputs)

    def up(self, name: str, on_output: Log | None = None, allow_destroy: bool = False) -> Outcome:
        """Apply Git's desired state. Refreshes first, so out-of-band changes and the leftovers of a failed
        run are reconciled instead of being trusted from stale state; Kubernetes objects changed in ways
        the engine's own diff cannot see are re-applied first (`repair_drift`). The policy pack checks every
        resource before it is changed, as in `preview`.

        `allow_destroy` (the platform team's approval) lifts `protect` from the stack's resources for this
        update, so an approved replacement or deletion can happen; every resource the program still
        declares is protected again by the same update (its goal state says so). Should that update fail
        before it runs, protection stays lifted until the next successful `up` puts it back."""
        self._validate(name)
        self.repair_drift(name, on_output)
        if allow_destroy:
            self._unprotect(name, on_output)
        with self._stack(name) as stack, _Guardrails(self.root, self.home, name, "up") as guard:
            events = _EventCollector()
            result = self._call(name, lambda: stack.up(on_output=on_output or self._out, on_event=guard.watch(events),
                                                       color="never", refresh=True, **guard.options), guard)
            return Outcome(name, "up", events.changes(), _summary(result.summary.resource_changes),
                           events.applied_outputs)

    def refresh_preview(self, name: str, on_output: Log | None = None) -> Outcome:
        """What a refresh would change: the live state no longer matching the last deployment."""
        with self._stack(name) as stack:
            events = _EventCollector(refresh=True)
            result = self._call(name, lambda: stack.preview_refresh(on_output=on_output or self._out,
                                                                    on_event=events, color="never"))
            return Outcome(name, "refresh", events.changes(), _summary(result.change_summary))

    def repair_drift(self, name: str, on_output: Log | None = None) -> list[ResourceChange]:
        """Put back what Shipyard last set on every Kubernetes object that drifted live (a merge patch of
        exactly the drifted fields, as the same field manager).

        Why not leave it to `pulumi up --refresh`: the Kubernetes provider compares live lists only up
        to the length it set, so an item *added* out of band (an extra RoleBinding subject, an extra
        policy type) is invisible to its diff and would never be removed.
        """
        events = _EventCollector(refresh=True)
        with self._stack(name, validate=False) as stack:
            self._call(name, lambda: stack.preview_refresh(on_output=lambda line: None, on_event=events,
                                                           color="never"))
            objects = [events.recorded[c.urn] for c in events.changes() if c.op == "update" and c.urn in events.recorded]
            if not objects:
                return []
            kubeconfig = self._call(name, stack.outputs).get("kubeconfig")
        if kubeconfig is None or not isinstance(kubeconfig.value, str):
            return []
        (on_output or self._out)(f"re-applying {len(objects)} Kubernetes object(s) changed out of band")
        kubectl = self.toolchain.binary("kubectl")
        scratch = self.home / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        config = scratch / f"kubeconfig-{os.getpid()}"
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(kubeconfig.value)
        try:
            for manager, desired, patch in objects:
                # A merge patch, not a server-side apply: SSA cannot remove list items another field
                # manager added (a keyed port, a subject); a merge patch replaces the lists Shipyard set.
                identity = {k: desired[k] for k in ("apiVersion", "kind")}
                identity["metadata"] = {k: v for k, v in desired.get("metadata", {}).items()
                                        if k in ("name", "namespace")}
                result = subprocess.run(
                    [str(kubectl), f"--kubeconfig={config}", "patch", "-f", "-", "--type=merge",
                     f"--field-manager={manager}", "-p", json.dumps(patch)],
                    input=json.dumps(identity), capture_output=True, text=True, timeout=120)
                if result.returncode != 0:
                    raise EngineError(f"stack '{name}': re-applying a drifted object failed: "
                                      f"{result.stderr.strip()[:500]}")
        finally:
            config.unlink(missing_ok=True)
        return [c for c in events.changes() if c.urn in events.recorded]

    def refresh(self, name: str, on_output: Log | None = None) -> Outcome:
        with self._stack(name) as stack:
            events = _EventCollector(refresh=True)
            result = self._call(name, lambda: stack.refresh(on_output=on_output or self._out, on_event=events,
                                                            color="never"))
            return Outcome(name, "refresh", events.changes(), _summary(result.summary.resource_changes))

    def destroy(self, name: str, on_output: Log | None = None) -> Outcome:
        """Delete every resource of the stack. Callers confirm first (the CLI asks for --yes, and for a prod
        stack its name typed): protected resources are unprotected, or the engine would refuse them."""
        self._unprotect(name, on_output)
        with self._stack(name, validate=False) as stack:
            events = _EventCollector()
            result = self._call(name, lambda: stack.destroy(on_output=on_output or self._out, on_event=events,
                                                            color="never"))
            return Outcome(name, "destroy", events.changes(), _summary(result.summary.resource_changes))

    def outputs(self, name: str) -> dict[str, Any]:
        """Stack outputs; secret ones stay masked."""
        with self._stack(name, validate=False) as stack:
            return {k: ("[secret]" if v.secret else v.value) for k, v in self._call(name, stack.outputs).items()}

    def _unprotect(self, name: str, on_output: Log | None = None) -> None:
        """Clear `protect` in the stack's state (export, edit, import: what `pulumi state unprotect --all`
        does, through the Automation API)."""
        with self._stack(name, validate=False) as stack:
            exported = self._call(name, stack.export_stack)
            resources = exported.deployment.get("resources") or []
            protected = [r for r in resources if r.get("protect")]
            if not protected:
                return
            for resource in protected:
                resource["protect"] = False
            (on_output or self._out)(f"approved: lifting protection from {len(protected)} resource(s) for this "
                                     "update")
            self._call(name, lambda: stack.import_stack(exported))

    # -- plumbing ---------------------------------------------------------------------------------
    def _out(self, line: str) -> None:
        self.log(line.rstrip("\n"))

    def _validate(self, name: str) -> None:
        from shipyard.validation import check_stack

        checked = check_stack(self.root, self.repo.stack(name).path, self.repo.local_kubernetes_minor)
        if checked.diagnostics:
            raise InvalidInputError(checked.diagnostics)

    @contextlib.contextmanager
    def _stack(self, name: str, validate: bool = True) -> Iterator[Any]:
        """The Pulumi stack for `name`, created on first use, running this repository's program."""
        from pulumi import automation as auto

        if validate:
            self._validate(name)  # nothing reaches the engine when the file is invalid
        env = self.env()
        pulumi_bin = self.toolchain.binary("pulumi")
        with _PROCESS_LOCK, _program_context(self.root):
            try:
                command = self._pulumi_command(pulumi_bin)
                # No project_settings: the repository's own Pulumi.yaml is used and never rewritten.
                workspace = auto.LocalWorkspaceOptions(
                    work_dir=str(self.root), pulumi_home=env["PULUMI_HOME"], env_vars=env,
                    pulumi_command=command, secrets_provider="passphrase")
                stack = self._call(name, lambda: auto.create_or_select_stack(
                    name, project_name=PROJECT, program=_inline_program(self.root), opts=workspace))
            except auto.errors.InvalidVersionError as exc:
                raise EngineError(f"the Pulumi CLI at {pulumi_bin} is not usable: {exc}") from None
            yield stack

    def _pulumi_command(self, binary: Path) -> Any:
        """The Automation API's handle on the CLI, made once per engine: constructing one runs
        `pulumi version` every time (0.25 s), and the toolchain has already pinned and checked it."""
        if getattr(self, "_command", None) is None:
            from pulumi import automation as auto

            self._command = auto.PulumiCommand(root=str(binary.parent.parent))
        return self._command

    def _call(self, name: str, fn: Callable[[], Any], guard: _Guardrails | None = None) -> Any:
        """Run one Automation API call; its failures become `ShipyardError`s. With `guard`, policy violations
        the engine reported are the error (listed one by one), not the engine's summary of them."""
        from pulumi import automation as auto

        try:
            result = fn()
        except auto.CommandError as exc:
            if guard is not None and guard.violations:
                raise guard.error() from None
            text = str(exc)
            if isinstance(exc, auto.ConcurrentUpdateError) or "the stack is currently locked by" in text:
                holder = next((line.split("created by", 1)[1].strip() for line in text.splitlines()
                               if "created by" in line), "")
                who = f" (locked by {holder})" if holder else ""
                raise ConcurrentUpdateError(f"stack '{name}' is being updated by someone else right now{who}; "
                                            "wait for that update to finish, or use --wait") from None
            raise EngineError(_explain(name, text)) from None
        if guard is not None and guard.violations:
            raise guard.error()
        return result


def _inline_program(root: Path) -> Callable[[], None]:
    program = root / "__main__.py"

    def run() -> None:
        runpy.run_path(str(program), run_name="__main__")

    return run


@contextlib.contextmanager
def _program_context(root: Path) -> Iterator[None]:
    """Run the program as the engine would: from the repository root, importing its `components`."""
    saved_cwd = os.getcwd()
    root_str = str(root)
    saved = {n: m for n, m in sys.modules.items() if n == "components" or n.startswith("components.")}
    for module in saved:
        del sys.modules[module]
    sys.path.insert(0, root_str)
    os.chdir(root)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        sys.path.remove(root_str)
        for module in [n for n in sys.modules if n == "components" or n.startswith("components.")]:
            del sys.modules[module]
        sys.modules.update(saved)


class _EventCollector:
    """Collects the engine's structured step events into `ResourceChange`s.

    Previews and updates report a step in its pre-event. A refresh reports what it found only once
    the live state was read, in the outputs event (op `update`/`delete`, with the detailed diff of
    live against recorded state), so refreshes read those instead.
    """

    def __init__(self, refresh: bool = False) -> None:
        self._refresh = refresh
        self._steps: dict[str, ResourceChange] = {}
        self.recorded: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {}
        """Drifted Kubernetes objects: urn -> (field manager, inputs Shipyard last applied, repair patch)."""
        self.applied_outputs: dict[str, Any] = {}
        """The root stack resource's outputs as last applied (its old state in this run's step)."""

    def __call__(self, event: Any) -> None:
        step = getattr(event, "res_outputs_event" if self._refresh else "resource_pre_event", None)
        if step is None or step.metadata is None:
            return
        meta = step.metadata
        if meta.type == "pulumi:pulumi:Stack" and meta.old is not None and isinstance(meta.old.outputs, dict):
            self.applied_outputs = dict(meta.old.outputs)
        op = meta.op.value if hasattr(meta.op, "value") else str(meta.op)
        if self._refresh:
            op, props = _live_drift(meta, op)
            if op is None:
                return
            old = meta.old.outputs if meta.old is not None else None
            # Objects with secret inputs are left to the engine: events mask secrets, and re-applying a
            # mask would overwrite the real value.
            if (op == "update" and isinstance(old, dict) and isinstance(old.get("__inputs"), dict)
                    and "[secret]" not in json.dumps(old["__inputs"])):
                from shipyard.drift import drifted_paths, repair_patch

                desired = old["__inputs"]
                patch = repair_patch(desired, drifted_paths(desired, meta.new.outputs or {}))
                self.recorded[meta.urn] = (str(old.get("__fieldManager") or "pulumi-kubernetes"), desired, patch)
        elif op in ("same", "read", "refresh"):
            return
        else:
            props = sorted(meta.detailed_diff) if meta.detailed_diff else sorted(meta.diffs or ())
        self._steps[meta.urn] = ResourceChange(urn=meta.urn, type=meta.type, name=meta.urn.rsplit("::", 1)[-1],
                                               op=op, properties=tuple(props))

    def changes(self) -> list[ResourceChange]:
        return list(self._steps.values())


def _live_drift(meta: Any, op: str) -> tuple[str | None, list[str]]:
    """(op, property paths) for a refreshed resource, or (None, []) when it still matches.

    Kubernetes objects are judged by `shipyard.drift` (every field Shipyard set, nothing the cluster adds);
    other resources by the engine's own refresh diff."""
    from shipyard.drift import live_differences

    old = meta.old.outputs if meta.old is not None else None
    if meta.new is None or op == "delete":
        return ("delete", []) if old is not None else (None, [])
    desired = old.get("__inputs") if isinstance(old, dict) else None
    if isinstance(desired, dict):
        props = live_differences(desired, meta.new.outputs or {})
        return ("update", props) if props else (None, [])
    if op in ("same", "read", "refresh"):
        return None, []
    props = sorted(meta.detailed_diff) if meta.detailed_diff else sorted(meta.diffs or ())
    return op, props


def _summary(summary: Any) -> dict[str, int]:
    if not summary:
        return {}
    return {(k.value if hasattr(k, "value") else str(k)): int(v) for k, v in dict(summary).items()}


def _explain(stack: str, message: str) -> str:
    hint = ""
    if "no resource plugin" in message or "could not find plugin" in message or "failed to load plugin" in message:
        hint = ("\nhint: a provider plugin is missing and plugins are never downloaded here; "
                "`shipyard tools install` builds the Kubernetes provider. The AWS provider cannot be built on "
                "this machine, so eks stacks only preview offline (`shipyard preview --offline`).")
    elif _POLICY_PACK_FAILED.search(message):
        hint = (f"\nhint: the policy pack ({_POLICY_PACK_DIR}/) could not run; `bin/install` (re)creates its "
                "virtual environment (policies/requirements.lock), or set SHIPYARD_POLICY_PYTHON to a Python "
                "that has it.")
    # Keep the engine's own words (its Diagnostics section when there is one), not the Automation API's
    # command-line dump or the progress lines before it.
    lines = [line for line in message.splitlines() if not line.strip().startswith(("code:", "cmd:"))]
    if any(line.startswith("Diagnostics:") for line in lines):
        start = next(i for i, line in enumerate(lines) if line.startswith("Diagnostics:"))
        end = next((i for i, line in enumerate(lines) if i > start and line.startswith(("Resources:", "Outputs:"))),
                   len(lines))
        lines = lines[start + 1:end]
    return f"stack '{stack}': the Pulumi engine failed:\n" + "\n".join(lines).strip() + hint


# -- the policy pack ------------------------------------------------------------------------------------
_POLICY_PACK_DIR = "policies"
"""The policy pack run on every preview and up (`PulumiPolicy.yaml`; pack `shipyard-guardrails`)."""
_POLICY_ANALYZER = "bin/pulumi-analyzer-policy-python"
"""What the engine is given as the pack. The CLI runs a pack *directory* through its language host, and
`pulumi-language-python` cannot be built here; an executable file it starts directly as an analyzer plugin.
This shim runs the pack's `__main__.py`, which serves the analyzer itself."""
_COLOR_TAG = re.compile(r"<\{%[^%]*%\}>")
_POLICY_PACK_FAILED = re.compile(r'pulumi-analyzer-policy-python:|policy pack "[^"]*" failed to start|'
                                 r"could not start policy pack|validating policy config")


def _policy_python() -> Path:
    """The Python of the policy pack's virtual environment (bin/_env installs it): SHIPYARD_POLICY_PYTHON,
    else `$SHIPYARD_POLICY_VENV/bin/python`, else the default venv's."""
    if os.environ.get("SHIPYARD_POLICY_PYTHON"):
        return Path(os.environ["SHIPYARD_POLICY_PYTHON"])
    venv = os.environ.get("SHIPYARD_POLICY_VENV") or Path.home() / ".cache" / "shipyard" / "policy-venv"
    return Path(venv) / "bin" / "python"


def _policy_config(root: Path, name: str) -> dict[str, dict[str, Any]]:
    """What the policy pack needs to know about the stack, keyed by policy name (see policies/__main__.py;
    each property is required there, so a name out of step fails the run instead of skipping a rule)."""
    from shipyard.validation import check_stack

    repo = Repo(root)
    checked = check_stack(root, repo.stack(name).path, repo.local_kubernetes_minor)
    stack, catalog = checked.stack, checked.catalog
    if stack is None or catalog is None:
        raise InvalidInputError(checked.diagnostics)
    # Whichever catalog add-on deploys the ingress-nginx chart owns the cluster's LoadBalancer Services.
    ingress = sorted({entry.namespace for entry in catalog.addons.values() if entry.chart == "ingress-nginx"})
    return {
        "eks-private-endpoint-in-prod": {"environment": stack.environment},
        "aws-team-environment-tags": {"team": stack.team, "environment": stack.environment},
        "load-balancer-only-in-ingress-namespace": {"allowedNamespaces": ingress},
        "no-privileged-containers-in-team-namespaces": {"teamNamespaces": sorted(ns.name for ns in stack.namespaces)},
    }


@dataclass(frozen=True)
class _Violation:
    policy: str
    resource_type: str
    resource_name: str
    message: str
    fix: str

    def as_text(self) -> str:
        resource = f"{self.resource_type} '{self.resource_name}'" if self.resource_type else "the stack"
        lines = [f"  - {self.policy}: {resource}", f"    {self.message}"]
        if self.fix:
            lines.append(f"    fix: {self.fix}")
        return "\n".join(lines)


class _Guardrails:
    """The policy pack for one preview or up of one stack: its config file (mode 0600 under
    `$SHIPYARD_HOME/tmp`, removed afterwards), the CLI options naming both, and the mandatory violations
    the engine reported as structured events.

    A repository without `policies/PulumiPolicy.yaml` runs without a pack (`options` is empty)."""

    def __init__(self, root: Path, home: Path, stack: str, operation: str) -> None:
        self.pack = root / _POLICY_PACK_DIR
        self.analyzer = self.pack / _POLICY_ANALYZER
        self.root, self.home, self.stack, self.operation = root, home, stack, operation
        self.options: dict[str, list[str]] = {}
        self.violations: list[_Violation] = []
        self._config: Path | None = None

    def __enter__(self) -> _Guardrails:
        if not (self.pack / "PulumiPolicy.yaml").is_file():
            return self
        python = _policy_python()
        if not (python.is_file() and os.access(python, os.X_OK)):
            raise ToolError(f"the policy pack's Python environment is missing ({python}); run bin/install to create "
                            f"it from {_POLICY_PACK_DIR}/requirements.lock, or set SHIPYARD_POLICY_PYTHON")
        config = _policy_config(self.root, self.stack)
        scratch = self.home / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        self._config = scratch / f"policy-config-{self.stack}-{os.getpid()}-{threading.get_ident()}.json"
        fd = os.open(self._config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(config, handle, sort_keys=True)
        self.options = {"policy_packs": [str(self.analyzer)], "policy_pack_configs": [str(self._config)]}
        return self

    def __exit__(self, *exc: object) -> None:
        if self._config is not None:
            self._config.unlink(missing_ok=True)

    def watch(self, inner: Callable[[Any], None]) -> Callable[[Any], None]:
        """An `on_event` callback recording mandatory policy violations, then passing every event on."""

        def on_event(event: Any) -> None:
            policy = getattr(event, "policy_event", None)
            if policy is not None and str(policy.enforcement_level).lower() == "mandatory":
                self._record(policy)
            inner(event)

        return on_event

    def _record(self, event: Any) -> None:
        urn = event.resource_urn or ""
        resource_type = urn.split("::")[2].rsplit("$", 1)[-1] if urn.count("::") >= 3 else ""
        # The pack's message is its policy's description ("<rule>. Fix: <how>"), then the detail.
        description, _, detail = _COLOR_TAG.sub("", event.message).strip().partition("\n")
        rule, _, fix = description.partition(" Fix: ")
        violation = _Violation(event.policy_name, resource_type, urn.rsplit("::", 1)[-1] if urn else "",
                               detail.strip() or rule.strip(), fix.strip())
        if violation not in self.violations:
            self.violations.append(violation)

    def error(self) -> EngineError:
        stopped = ("nothing was changed" if self.operation == "preview"
                   else "the update stopped at the refused resource; resources before it may already have changed")
        head = (f"stack '{self.stack}': {len(self.violations)} policy violation(s) ({_POLICY_PACK_DIR}/); {stopped}:")
        return EngineError("\n".join([head] + [v.as_text() for v in self.violations]))
