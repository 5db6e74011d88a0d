"""The one module that talks to Pulumi's Automation API.

Everything else calls `Engine`; it raises only `ShipyardError`s. Stacks run the repository's own
`__main__.py` as an inline program: the Automation API serves it from this process through its
in-process language server, so no `pulumi-language-python` host is needed (that Go module is not
served by the module proxy; see README, "Toolchain").

Where the state lives and how its secrets are encrypted is `shipyard.state`'s decision (a shared
backend and KMS key in CI; a file backend and generated passphrase under `$SHIPYARD_HOME` for a plain
local run). A stack's committed config (`config/Pulumi.<stack>.yaml`, e.g. an existing cluster's
encrypted kubeconfig) is handed to every operation, so a fresh clone can run the stack.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import runpy
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.errors import (ConcurrentUpdateError, Diagnostic, EngineError, InvalidInputError, StackNotAppliedError,
                             StaleLockError, ToolError, relpath)
from shipyard.paths import shipyard_home
from shipyard.processes import running
from shipyard.repo import CONFIG_DIR, Repo
from shipyard.state import ANNOUNCED_VAR, StateSettings, resolve_state
from shipyard.tools import Toolchain

PROJECT = "shipyard"
STACK_CONFIG_DIR = ".shipyard/stack-config"
"""Pulumi.yaml's `stackConfigDir`: what the CLI writes on its own (the secrets provider a stack was created
with in this checkout) stays out of Git, so a local run never dirties the repository."""
COMMITTED_CONFIG_DIR = CONFIG_DIR
"""Committed stack config, Pulumi's own `Pulumi.<stack>.yaml` format: what a fresh clone needs to run a
stack (`shipyard config set-kubeconfig`). When a stack has one, every operation uses it (`--config-file`)."""
Log = Callable[[str], None]
# The program mutates process-wide state (cwd, sys.path, pulumi's runtime settings): one engine
# operation at a time per process.
_PROCESS_LOCK = threading.Lock()
# The engine's words when a step would replace or delete a resource marked `protect`
# ("... cannot be deleted because it is protected", "... as it is currently marked for protection").
PROTECTED_ERROR = re.compile(r"marked for protection|protected resource|because it is protected", re.I)
_URN = re.compile(r"urn:pulumi:[^\s\"'`]+")
_REPLACEMENT_STEPS = {"create-replacement": "create-before-delete", "delete-replaced": "delete-before-create",
                      "replace": None}
"""The steps of one replacement, and the order the first of them reveals."""
_DESTRUCTIVE_OPS = frozenset({"delete", "replace", "create-replacement", "delete-replaced", "discard",
                              "discard-replaced", "read-replacement"})


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
    by: str | None = None
    """Live drift: the field manager that made the latest change (`kubectl-label`), when the cluster says."""
    at: str | None = None
    """Live drift: when that change was made (RFC 3339, from the object's managedFields)."""
    fields: tuple[dict[str, Any], ...] = ()
    """Live drift: each drifted field with its own `path`, `by` and `at`."""
    replacement: str | None = None
    """For `replace`: `create-before-delete` (the new resource exists before the old one goes: no gap) or
    `delete-before-create` (a gap, e.g. a fixed name the two cannot share)."""

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"urn": self.urn, "type": self.type, "name": self.name, "op": self.op,
                               "properties": list(self.properties)}
        for key in ("source", "by", "at", "replacement"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.fields:
            out["fields"] = [dict(f) for f in self.fields]
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
    repairs: list[dict[str, Any]] = field(default_factory=list)
    """Previews and ups: the Kubernetes objects changed out of band that `up` puts back (will put back, in a
    preview) before the engine runs, each field as `old` (live) -> `new` (what Shipyard set)."""

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
    def state_settings(self) -> StateSettings:
        """The backend and secrets configuration, or a `StateConfigError` naming the variable to fix."""
        settings = resolve_state(os.environ, self.home)
        if settings.notice:
            self.log(settings.notice)
            os.environ[ANNOUNCED_VAR] = "1"  # once per run: parallel workers inherit it
        return settings

    def env(self, settings: StateSettings | None = None) -> dict[str, str]:
        """Variables for every Pulumi CLI call. Nothing needs to be set by hand."""
        settings = settings or self.state_settings()
        self.home.mkdir(parents=True, exist_ok=True)
        pulumi_home = os.environ.get("PULUMI_HOME") or str(self.home / "pulumi-home")
        pulumi_bin = self.toolchain.binary("pulumi")
        self._install_plugins(Path(pulumi_home))
        (self.root / STACK_CONFIG_DIR).mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": os.pathsep.join([str(pulumi_bin.parent), os.environ.get("PATH", "")]),
            **settings.env,
            "PULUMI_HOME": pulumi_home,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            # Plugins are installed ahead of time at their exact pins (`shipyard tools install --for engine`):
            # never a surprise download mid-deploy; a missing one fails at once, naming it.
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
            # Git is the source of truth: when someone took over a field Shipyard sets (kubectl scale,
            # edit, patch), the next apply takes it back instead of failing on a field-manager conflict.
            "PULUMI_K8S_ENABLE_PATCH_FORCE": "true",
            # The Python the policy pack runs with (its own virtual environment): the analyzer shim reads
            # SHIPYARD_POLICY_PYTHON; a standard Python language host honours PULUMI_PYTHON_CMD.
            "SHIPYARD_POLICY_PYTHON": str(_policy_python()),
            "PULUMI_PYTHON_CMD": str(_policy_python()),
        }
        return env

    def _install_plugins(self, pulumi_home: Path) -> None:
        """Put every installed provider plugin in the plugin cache at its exact version, as `pulumi plugin
        install --file` would: found without any download, and version-checked."""
        for plugin in self.toolchain.plugins():
            target = pulumi_home / "plugins" / f"{plugin.kind}-{plugin.name}-v{plugin.version}"
            binary = target / plugin.path.name
            if binary.is_file() and binary.stat().st_size == plugin.path.stat().st_size:
                continue
            staging = target.with_name(target.name + f".partial-{os.getpid()}")
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            shutil.copy2(plugin.path, staging / binary.name)
            shutil.rmtree(target, ignore_errors=True)
            os.replace(staging, target)
            target.with_name(target.name + ".lock").touch()

    def _require_plugins(self, stack: Any) -> None:
        """Fail before the engine starts when the stack needs a provider plugin that is not installed."""
        needed = ["kubernetes"] + (["aws"] if stack.cluster.provider == "eks" else [])
        installed = {plugin.name for plugin in self.toolchain.plugins()}
        missing = [name for name in needed if name not in installed]
        if missing:
            raise ToolError("; ".join(self.toolchain.plugin_missing_message(name) for name in missing))

    def committed_config(self, name: str) -> Path | None:
        """The stack's committed config file (`config/Pulumi.<stack>.yaml`), when it has one."""
        path = self.root / COMMITTED_CONFIG_DIR / f"Pulumi.{name}.yaml"
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise InvalidInputError([_diagnostic(path, self.root, "a stack config file must be a regular file "
                                                                  "inside the repository, not a link")])
        return path if path.is_file() else None

    def _config_options(self, name: str) -> dict[str, str]:
        committed = self.committed_config(name)
        return {"config_file": str(committed)} if committed is not None else {}

    # -- operations -------------------------------------------------------------------------------
    def preview(self, name: str, on_output: Log | None = None, create_stack: bool | None = None,
                repairs: bool = True) -> Outcome:
        """What an up would change. The policy pack (`policies/`) checks every resource; a violation is an
        `EngineError` listing each one. A stack never applied is planned without the engine (everything is
        created); `create_stack` as `_stack`'s `create` (default: only in the local mode). `repairs`: also
        list the out-of-band changes `up` would put back first (it reads the cluster)."""
        try:
            with self._stack(name, create=create_stack) as stack:
                outcome = self._preview(name, stack, on_output)
        except StackNotAppliedError:
            return self._plan_new_stack(name, on_output)
        if repairs:
            findings = self.live(name)
            outcome.repairs = [r.as_json() for r in findings.repairs] if findings is not None else []
        return outcome

    def _preview(self, name: str, stack: Any, on_output: Log | None) -> Outcome:
        with _Guardrails(self.root, self.home, name, "preview", self.toolchain.language_host()) as guard:
            events = _EventCollector()
            result = self._call(name, lambda: stack.preview(on_output=on_output or self._out,
                                                            on_event=guard.watch(events), diff=False,
                                                            color="never", **guard.options,
                                                            **self._config_options(name)), guard)
            return Outcome(name, "preview", events.changes(), _summary(result.change_summary), events.applied_outputs)

    def up(self, name: str, on_output: Log | None = None, allow_destroy: bool = False) -> Outcome:
        """Apply Git's desired state. Refreshes first, so out-of-band changes and the leftovers of a failed
        run are reconciled instead of being trusted from stale state; Kubernetes objects changed in ways
        the engine's own diff cannot see are re-applied first (`repair_drift`). The policy pack checks every
        resource before it is changed, as in `preview`.

        `allow_destroy` (the platform team's approval) lifts `protect` from exactly the resources a preview
        shows this update replacing or deleting, so the approved change can happen; every resource the
        program still declares is protected again by the same update (its goal state says so). Should that update fail
        before it runs, protection stays lifted until the next successful `up` puts it back."""
        self._validate(name)
        self._settle_pending_creates(name, on_output)
        repairs = self.repair_drift(name, on_output)
        if allow_destroy:
            self._lift_for_approved_change(name, on_output)
        with self._stack(name, create=True) as stack, \
                _Guardrails(self.root, self.home, name, "up", self.toolchain.language_host()) as guard:
            events = _EventCollector()
            result = self._call(name, lambda: stack.up(on_output=on_output or self._out, on_event=guard.watch(events),
                                                       color="never", refresh=True, **guard.options,
                                                       **self._config_options(name)), guard)
            return Outcome(name, "up", events.changes(), _summary(result.summary.resource_changes),
                           events.applied_outputs, [r.as_json() for r in repairs])

    def live(self, name: str) -> Any:
        """The stack's Kubernetes objects compared with the cluster (`shipyard.live.LiveFindings`), or None for a
        stack never applied. Reads the state export and the cluster; runs no program and no engine."""
        from shipyard import live

        try:
            with self._stack(name, validate=False, create=False, program=False) as stack:
                deployment = self._call(name, stack.export_stack).deployment
        except StackNotAppliedError:
            return None
        try:
            return live.read(deployment, self.toolchain.binary("kubectl"), self.home / "tmp")
        except live.LiveReadError as exc:
            raise EngineError(f"stack '{name}': {exc}") from None

    def refresh_preview(self, name: str, on_output: Log | None = None) -> Outcome:
        """Live drift: what moved since the last deployment. Kubernetes objects are read directly and judged by
        `shipyard.drift` (every field Shipyard set, fields people added, who and when; access nobody declared
        as `unmanaged`); other resources (AWS) by the engine's refresh preview. A stack that was never applied
        has no live state: `StackNotAppliedError`."""
        findings = self.live(name)
        if findings is None:
            raise StackNotAppliedError(f"stack '{name}' has never been applied")
        changes = _live_changes(findings)
        if findings.others:
            with self._stack(name, validate=False, create=False) as stack:
                events = _EventCollector(refresh=True)
                self._call(name, lambda: stack.preview_refresh(
                    on_output=on_output or self._out, on_event=events, color="never", target=findings.others,
                    **self._config_options(name)))
                changes += events.changes()
        return Outcome(name, "refresh", changes, dict(collections.Counter(c.op for c in changes)))

    def repair_drift(self, name: str, on_output: Log | None = None) -> list[Any]:
        """Put back what Shipyard last set on every Kubernetes object changed out of band (a merge patch of
        exactly the drifted fields, as the same field manager; fields a person added are removed). Objects
        nobody declared (`unmanaged`) are the team's and are left alone; deleted objects are recreated by
        the update itself.

        Why not leave it to `pulumi up --refresh`: the Kubernetes provider compares live lists only up
        to the length it set, so an item *added* out of band (an extra RoleBinding subject, an extra
        policy type) is invisible to its diff, and so is a label it never set.
        """
        from shipyard.live import Kubectl, LiveReadError

        findings = self.live(name)
        if findings is None or not findings.repairs:
            return []  # a first up has nothing to repair
        (on_output or self._out)(f"re-applying {len(findings.repairs)} Kubernetes object(s) changed out of band")
        with Kubectl(self.toolchain.binary("kubectl"), findings.kubeconfig, self.home / "tmp") as kubectl:
            for repair in findings.repairs:
                if repair.recreate:
                    continue  # the update's refresh finds it gone and creates it again
                try:
                    kubectl.patch(repair)
                except LiveReadError as exc:
                    raise EngineError(f"stack '{name}': re-applying {repair.name} failed: "
                                      f"{_redact(str(exc), findings.kubeconfig)}") from None
        return list(findings.repairs)

    def refresh(self, name: str, on_output: Log | None = None) -> Outcome:
        with self._stack(name, create=False) as stack:
            events = _EventCollector(refresh=True)
            result = self._call(name, lambda: stack.refresh(on_output=on_output or self._out, on_event=events,
                                                            color="never", **self._config_options(name)))
            return Outcome(name, "refresh", events.changes(), _summary(result.summary.resource_changes))

    def destroy(self, name: str, on_output: Log | None = None) -> Outcome:
        """Delete every resource of the stack. Callers confirm first (the CLI asks for --yes, and for a prod
        stack its name typed): protected resources are unprotected, or the engine would refuse them."""
        self._unprotect(name, on_output)
        with self._stack(name, validate=False, create=False) as stack:
            events = _EventCollector()
            result = self._call(name, lambda: stack.destroy(on_output=on_output or self._out, on_event=events,
                                                            color="never", **self._config_options(name)))
            return Outcome(name, "destroy", events.changes(), _summary(result.summary.resource_changes))

    def outputs(self, name: str) -> dict[str, Any]:
        """Stack outputs; secret ones stay masked."""
        with self._stack(name, validate=False, create=False) as stack:
            return {k: ("[secret]" if v.secret else v.value) for k, v in self._call(name, stack.outputs).items()}

    def set_config_secret(self, name: str, key: str, value: str) -> Path:
        """Encrypt `value` as the secret config `key` of stack `name` into its committed config file, with the
        stack's own secrets provider, so any checkout configured like CI can run the stack.

        Only for shared state: a value encrypted with this checkout's generated passphrase could never be
        read by CI, so that is refused rather than committed."""
        settings = self.state_settings()
        if not settings.shared:
            raise ToolError("the committed stack config is read by CI and other checkouts, so its secrets must be "
                            "encrypted for the shared state: set PULUMI_BACKEND_URL and SHIPYARD_SECRETS_PROVIDER "
                            "(or PULUMI_CONFIG_PASSPHRASE) as the workflows do, then run this again; nothing was "
                            "written")
        target = self.root / COMMITTED_CONFIG_DIR / f"Pulumi.{name}.yaml"
        self.committed_config(name)  # refuses a link or a folder in its place
        env = self.env(settings)
        with self._stack(name, validate=False):  # created with the configured provider on first use
            pass
        self._seed_secrets_provider(name, target, settings)
        pulumi_bin = self.toolchain.binary("pulumi")
        # The value goes through stdin, never the command line (process listings show arguments).
        result = subprocess.run(
            [str(pulumi_bin), "config", "set", "--secret", "--non-interactive", "--stack", name,
             "--config-file", str(target), "--", f"{PROJECT}:{key}"],
            input=value, capture_output=True, text=True, cwd=self.root, env={**os.environ, **env}, timeout=300)
        if result.returncode != 0:
            raise EngineError(f"stack '{name}': storing config '{key}' failed:\n"
                              f"{_redact(result.stderr.strip(), value)[:2000]}")
        return target

    def _seed_secrets_provider(self, name: str, target: Path, settings: StateSettings) -> None:
        """Start the committed file with the secrets provider this stack was created with in this checkout
        (what `stack init` wrote to the machine-local config), so its secrets and the state's agree.
        Without one (the stack was created elsewhere) the CLI falls back to the state's provider."""
        import yaml

        fields = ("secretsprovider", "encryptedkey", "encryptionsalt")
        current = yaml.safe_load(target.read_text(encoding="utf-8")) if target.is_file() else None
        current = current if isinstance(current, dict) else {}
        if any(current.get(f) for f in fields):
            return
        local = self.root / STACK_CONFIG_DIR / f"Pulumi.{name}.yaml"
        known = yaml.safe_load(local.read_text(encoding="utf-8")) if local.is_file() else None
        known = known if isinstance(known, dict) else {}
        seed = {f: known[f] for f in fields if known.get(f)}
        if not seed and settings.secrets_provider != "passphrase":
            seed = {"secretsprovider": settings.secrets_provider}
        if not seed:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{os.getpid()}")
        temp.write_text(yaml.safe_dump({**seed, **current}, sort_keys=True), encoding="utf-8")
        os.replace(temp, target)

    def unlock(self, name: str, force: bool = False) -> list[str]:
        """Remove the lock a killed update left on `name`. Refused while a holder may still be running — on
        this host, or on another one, which cannot be checked — unless `force`. Exactly the lock objects
        inspected are deleted, so an update that starts meanwhile keeps its own. Returns what was removed."""
        from shipyard.locks import read_locks, remove_locks

        settings = self.state_settings()
        locks = read_locks(settings.backend_url, PROJECT, name)
        if locks is None:
            if not force:
                raise ConcurrentUpdateError(f"the locks of this state backend cannot be inspected; if no update of "
                                            f"'{name}' is running, `shipyard unlock {name} --force` removes them")
            # Nothing can be inspected, so nothing can be picked: the engine's own "remove every lock".
            env = self.env(settings)
            result = subprocess.run([str(self.toolchain.binary("pulumi")), "cancel", "--yes", "--non-interactive",
                                     "--stack", name], cwd=self.root, env={**os.environ, **env},
                                    capture_output=True, text=True, timeout=300)
            if result.returncode != 0:
                # The CLI's words may quote the backend URL, which can carry credentials: say only that it failed.
                raise EngineError(f"stack '{name}': `pulumi cancel` could not remove its locks (exit "
                                  f"{result.returncode})")
            return ["every lock (not inspectable)"]
        live = [lock for lock in locks if lock.alive() is not False]
        if live and not force:
            raise ConcurrentUpdateError(f"stack '{name}' is locked and its holder may still be running: "
                                        + "; ".join(lock.describe() for lock in live)
                                        + f". Wait for it, or when you are sure it is gone: `shipyard unlock "
                                          f"{name} --force`")
        remove_locks(settings.backend_url, locks)
        return [lock.describe() for lock in locks]

    def _lock_released(self, name: str, text: str) -> bool:
        """The lock the engine's message names is no longer in the backend (False when that cannot be told)."""
        from shipyard.locks import holder_from_message, read_locks

        held = holder_from_message(text)
        try:
            locks = read_locks(self.state_settings().backend_url, PROJECT, name)
        except Exception:  # noqa: BLE001 - unreadable backend: keep the engine's verdict
            return False
        return held is not None and locks is not None and not any(
            (lock.pid, lock.hostname) == (held.pid, held.hostname) for lock in locks)

    def _settle_pending_creates(self, name: str, on_output: Log | None) -> None:
        """A run killed mid-create leaves "creating" operations in the state: the object may or may not exist,
        and the engine will not guess. Drop them (the engine's own `refresh --clear-pending-creates`); the
        update then creates each again, and the Kubernetes provider's server-side apply adopts an object the
        killed run did create instead of failing on it."""
        try:
            with self._stack(name, validate=False, create=False) as stack:
                pending = self._call(name, stack.export_stack).deployment.get("pending_operations") or []
                creating = [op for op in pending if op.get("type") == "creating"]
                if not creating:
                    return
                (on_output or self._out)(f"a killed run left {len(creating)} create(s) unfinished; settling them "
                                         "before applying")
                self._call(name, lambda: stack.refresh(on_output=lambda line: None, color="never",
                                                       clear_pending_creates=True, **self._config_options(name)))
        except StackNotAppliedError:
            return

    def _lift_for_approved_change(self, name: str, on_output: Log | None) -> None:
        """Unprotect exactly what the approved change replaces or deletes; the rest stays protected
        throughout. A preview names those resources as its steps, or, where the engine refuses a protected
        one, in its error; each refusal lifted reveals the next, so preview until none is left."""
        for _ in range(20):
            try:
                outcome = self.preview(name, on_output)
            except EngineError as exc:
                urns = protected_urns(str(exc))
                if not urns:
                    raise
                self._unprotect(name, on_output, allow_missing=True, urns=urns)
                continue
            self._unprotect(name, on_output, allow_missing=True,
                            urns=[c.urn for c in outcome.changes if c.op in _DESTRUCTIVE_OPS])
            return
        raise EngineError(f"stack '{name}': the approved change kept meeting protected resources; nothing was "
                          "applied")

    def _unprotect(self, name: str, on_output: Log | None = None, allow_missing: bool = False,
                   urns: list[str] | None = None) -> None:
        """Clear `protect` on `urns` (None: every resource) with the engine's own `pulumi state unprotect`:
        it edits the state under the stack's lock and re-encrypts it, so no concurrent update is lost and no
        decrypted secret touches the disk. `allow_missing`: a stack never applied has nothing to lift."""
        if urns is not None and not urns:
            return
        try:
            with self._stack(name, validate=False, create=False) as stack:
                resources = self._call(name, stack.export_stack).deployment.get("resources") or []
                protected = {r["urn"] for r in resources if r.get("protect")}
                targets = sorted(protected if urns is None else protected & set(urns))
                if not targets:
                    return
                (on_output or self._out)(f"approved: lifting protection from {len(targets)} resource(s) for this "
                                         "update")
                args = ["state", "unprotect", "--yes", "--stack", name]
                args += ["--all"] if urns is None else ["--", *targets]
                self._call(name, lambda: stack.workspace.pulumi_command.run(
                    args, str(self.root), stack.workspace.env_vars))
        except StackNotAppliedError:
            if not allow_missing:
                raise

    # -- plumbing ---------------------------------------------------------------------------------
    def _out(self, line: str) -> None:
        self.log(line.rstrip("\n"))

    def _validate(self, name: str) -> Any:
        """The stack file's model; nothing reaches the engine when the file (or the platform's policy,
        catalog or prices) is invalid."""
        from shipyard.validation import check_stack

        checked = check_stack(self.root, self.repo.stack(name).path, self.repo.local_kubernetes_minor)
        if checked.diagnostics:
            raise InvalidInputError(checked.diagnostics)
        return checked.stack

    def _check_upgrade_step(self, name: str, stack: Any) -> None:
        """An eks stack moves one Kubernetes minor from the version its last `up` applied (the state's
        `kubernetesVersion` output), never more and never back: refused before the program runs."""
        from shipyard.upgrades import KUBERNETES_VERSION_OUTPUT

        path = self.repo.stack(name).path
        outputs = self._call(name, stack.outputs)
        applied = outputs.get(KUBERNETES_VERSION_OUTPUT)
        problems = upgrade_step_problems(self.root, path, self.repo.local_kubernetes_minor,
                                         applied.value if applied is not None and not applied.secret else None)
        if problems:
            raise InvalidInputError(problems)

    @contextlib.contextmanager
    def _stack(self, name: str, validate: bool = True, create: bool | None = True,
               program: bool = True) -> Iterator[Any]:
        """The Pulumi stack for `name`, running this repository's program.

        Only applying creates a stack (`create=True`, with the configured secrets provider). Reading
        operations select it and raise `StackNotAppliedError` when it does not exist: a drift check or a
        destroy of a mistyped name must not leave an empty stack behind, and CI's read-only preview role
        cannot write to the state. `create=None` (previews): create only in the local mode, where the
        state is this checkout's own. `program=False`: for reading the state only (an export), which runs
        no program and so may run alongside an operation that does."""
        from pulumi import automation as auto

        model = self._validate(name) if validate else None
        if model is not None:
            self._require_plugins(model)
        settings = self.state_settings()
        env = self.env(settings)
        pulumi_bin = self.toolchain.binary("pulumi")
        if create is None:
            create = not settings.shared
        with (_PROCESS_LOCK if program else contextlib.nullcontext()), \
                (_program_context(self.root) if program else contextlib.nullcontext()):
            try:
                command = self._pulumi_command(pulumi_bin)
                # No project_settings: the repository's own Pulumi.yaml is used and never rewritten.
                workspace = auto.LocalWorkspaceOptions(
                    work_dir=str(self.root), pulumi_home=env["PULUMI_HOME"], env_vars=env,
                    pulumi_command=command, secrets_provider=settings.secrets_provider)
                opener = auto.create_or_select_stack if create else auto.select_stack

                def open_stack() -> Any:
                    try:
                        if not program:  # the repository as a local program, which reading never runs
                            return opener(name, work_dir=str(self.root), opts=workspace)
                        return opener(name, project_name=PROJECT, program=_inline_program(self.root), opts=workspace)
                    except auto.StackNotFoundError:
                        raise StackNotAppliedError(f"stack '{name}' has never been applied: the state backend has "
                                                   f"no stack of that name (`shipyard up {name}` creates it)") from None

                stack = self._call(name, open_stack)
            except auto.errors.InvalidVersionError as exc:
                raise EngineError(f"the Pulumi CLI at {pulumi_bin} is not usable: {exc}") from None
            if model is not None and model.cluster.provider == "eks":
                self._check_upgrade_step(name, stack)
            yield stack

    def _plan_new_stack(self, name: str, on_output: Log | None = None) -> Outcome:
        """The preview of a stack that was never applied: everything its program declares is created. The
        engine cannot preview a stack that does not exist, and creating one is an apply's job, so the
        program is evaluated under mocks (as `preview --offline` does); the policy pack runs at its first
        `up`, before anything is created."""
        from shipyard.offline import run_offline

        (on_output or self._out)(f"stack '{name}' has never been applied: every resource below is created by its "
                                 "first `shipyard up` (evaluated without the engine; the policy pack's rules checked "
                                 "on that plan)")
        with _PROCESS_LOCK:
            planned = run_offline(self.root, name)
        violations = _check_plan(self.root, name, planned)
        if violations:
            head = f"stack '{name}': {len(violations)} policy violation(s) ({_POLICY_PACK_DIR}/); nothing was changed:"
            raise EngineError("\n".join([head] + [v.as_text() for v in violations]))
        changes = [ResourceChange(urn=p.urn, type=p.type, name=p.name, op="create") for p in planned]
        return Outcome(name, "preview", changes, {"create": len(changes)} if changes else {})

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

        from shipyard import interrupts

        try:
            result = fn()
        except auto.CommandError as exc:
            interrupts.check()  # cancelled by a signal: that is the outcome, not the engine's complaint
            if guard is not None and guard.violations:
                raise guard.error() from None
            text = str(exc)
            if isinstance(exc, auto.ConcurrentUpdateError) or "the stack is currently locked by" in text:
                message, stale = _locked_message(name, text)
                if stale and self._lock_released(name, text):
                    # The holder finished between the engine's refusal and our look at its process: an
                    # ordinary concurrent update, not a killed one (and --wait retries it).
                    message, stale = (f"stack '{name}' was being updated by someone else, whose update has just "
                                      "finished; run again, or use --wait"), False
                raise (StaleLockError if stale else ConcurrentUpdateError)(message) from None
            raise EngineError(_explain(name, text)) from None
        interrupts.check()
        if guard is not None and guard.violations:
            raise guard.error()
        return result


def upgrade_step_problems(root: Path, path: Path, local_minor: str | None, applied: Any) -> list[Diagnostic]:
    """The stack file's diagnostics against the Kubernetes version the state says was applied last (none when the
    state has no such output: never applied, or applied before it was exported)."""
    if not isinstance(applied, str):
        return []
    from shipyard.validation import check_stack

    return check_stack(root, path, local_minor, applied=(applied, "the stack's state")).diagnostics


def _remove_orphans(paths: Any) -> None:
    """Delete scratch files (named `...-<pid>-<thread>.json`) whose process is gone: a run killed outright
    cannot clean up after itself, so the next one does."""
    for path in paths:
        parts = path.stem.rsplit("-", 2)
        if len(parts) == 3 and parts[1].isdigit() and not running(int(parts[1])):
            path.unlink(missing_ok=True)


def protected_urns(text: str) -> list[str]:
    """The resources an engine error refuses to replace or delete because they are protected."""
    if not PROTECTED_ERROR.search(text):
        return []
    return sorted({urn.rstrip(".,:;") for urn in _URN.findall(text)})


def _locked_message(name: str, text: str) -> tuple[str, bool]:
    """Who holds the stack's lock, since when, and what to do: wait, or unlock what a killed run left."""
    from shipyard.locks import holder_from_message

    lock = holder_from_message(text)
    if lock is None:
        return (f"stack '{name}' is being updated by someone else right now; wait for that update to finish, or "
                "use --wait", False)
    if lock.alive() is False:
        return (f"stack '{name}' is locked by an update that is no longer running ({lock.describe()}); "
                f"`shipyard unlock {name}` removes its lock, then run again", True)
    return (f"stack '{name}' is being updated by someone else right now (locked by {lock.holder}; "
            f"{lock.describe()}); wait for that update to finish, or use --wait. If that run was killed, "
            f"`shipyard unlock {name}` removes its lock", False)


def _diagnostic(path: Path, root: Path, message: str) -> Diagnostic:
    return Diagnostic(relpath(path, root), 1, 1, message)


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
        elif op in ("same", "read", "refresh"):
            return
        else:
            props = sorted(meta.detailed_diff) if meta.detailed_diff else sorted(meta.diffs or ())
        replacement = None
        if op in _REPLACEMENT_STEPS:
            # A replacement is three steps of one resource; which of the create and the delete comes first says
            # whether there is a gap. One change, op `replace`, with that order.
            earlier = self._steps.get(meta.urn)
            replacement = (earlier.replacement if earlier is not None and earlier.replacement else
                           _REPLACEMENT_STEPS[op])
            props = sorted(set(props) | set(earlier.properties if earlier is not None else ()))
            op = "replace"
        self._steps[meta.urn] = ResourceChange(urn=meta.urn, type=meta.type, name=meta.urn.rsplit("::", 1)[-1],
                                               op=op, properties=tuple(props), replacement=replacement)

    def changes(self) -> list[ResourceChange]:
        return list(self._steps.values())


def _live_drift(meta: Any, op: str) -> tuple[str | None, list[str]]:
    """(op, property paths) for a refreshed resource, or (None, []) when it still matches.

    Kubernetes objects are judged by `shipyard.drift` (every field Shipyard set, nothing the cluster adds);
    other resources by the engine's own refresh diff."""
    from shipyard.drift import format_path, object_drift

    old = meta.old.outputs if meta.old is not None else None
    if meta.new is None or op == "delete":
        return ("delete", []) if old is not None else (None, [])
    desired = old.get("__inputs") if isinstance(old, dict) else None
    if isinstance(desired, dict):
        props = [format_path(f.path) for f in object_drift(desired, meta.new.outputs or {}).fields]
        return ("update", props) if props else (None, [])
    if op in ("same", "read", "refresh"):
        return None, []
    props = sorted(meta.detailed_diff) if meta.detailed_diff else sorted(meta.diffs or ())
    return op, props


def _live_changes(findings: Any) -> list[ResourceChange]:
    """`shipyard.live` findings as drift report entries: `update`/`delete` of objects Shipyard manages, and
    `unmanaged` objects nobody declared (identified as `<namespace>/<name>` of their Pulumi type)."""
    out = []
    for obj, drift in findings.drifted:
        latest = drift.latest
        out.append(ResourceChange(obj.urn, obj.type, obj.name, "delete" if drift.missing else "update",
                                  tuple(dict.fromkeys(f.as_json()["path"] for f in drift.fields)), "live",
                                  latest.by if latest else None, latest.at if latest else None,
                                  tuple(f.as_json() for f in drift.fields)))
    for found in findings.unmanaged:
        group, _, version = found.api_version.rpartition("/")
        rtype = f"kubernetes:{group or 'core'}/{version}:{found.kind}"
        name = f"{found.namespace}/{found.name}" if found.namespace else found.name
        out.append(ResourceChange(f"live:{rtype}::{name}", rtype, name, "unmanaged", (found.reason,), "live",
                                  found.by, found.at))
    return out


def _redact(text: str, secret: str) -> str:
    """`text` with `secret` masked by the one redaction helper: a multi-line secret (a kubeconfig) is masked
    line by line, value by value and word by word, since an error may quote any part of it."""
    from shipyard.secrets import Redactor

    pieces: set[str] = set()
    for line in secret.splitlines():
        pieces.add(line.strip())
        pieces.add(line.partition(":")[2].strip())
        pieces.update(word for word in line.split() if len(word) >= 12)
    return Redactor(sorted(p for p in pieces if len(p) >= 8))(text)


def _summary(summary: Any) -> dict[str, int]:
    if not summary:
        return {}
    return {(k.value if hasattr(k, "value") else str(k)): int(v) for k, v in dict(summary).items()}


def _explain(stack: str, message: str) -> str:
    hint = ""
    if "no resource plugin" in message or "could not find plugin" in message or "failed to load plugin" in message:
        hint = ("\nhint: a provider plugin is missing. Shipyard installs plugins ahead of time at the exact "
                "versions its Python packages pin and never downloads one mid-run: run `shipyard tools install "
                "--for engine` (official releases, or SHIPYARD_TOOLS_MIRROR for a mirror).")
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
"""The fallback for a CLI without a Python language host (a toolchain built from source: the host's Go module
has no release tags to build from). The CLI runs a pack *directory* through its language host, but starts an
executable file directly as an analyzer plugin; this shim runs the pack's `__main__.py`, which serves the
analyzer itself. Every official Pulumi release ships the host, and then the pack runs the standard way."""
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
    each property is required there, so a name out of step fails the run instead of skipping a rule). Rules that
    need no stack facts (no-wildcard-iam-actions, no-system-masters) get no config."""
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


def _check_plan(root: Path, name: str, planned: list[Any]) -> list[_Violation]:
    """The policy pack's rules (`policies/rules.py`, the same functions the pack wraps) over an offline plan:
    what a never-applied stack's first `up` would be refused for, said at preview time."""
    import importlib.util

    rules_file = root / _POLICY_PACK_DIR / "rules.py"
    if not (root / _POLICY_PACK_DIR / "PulumiPolicy.yaml").is_file() or not rules_file.is_file():
        return []
    spec = importlib.util.spec_from_file_location("shipyard_policy_rules", rules_file)
    assert spec is not None and spec.loader is not None
    rules = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = rules  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(rules)
    finally:
        sys.modules.pop(spec.name, None)
    config = _policy_config(root, name)
    by_urn = {resource.urn: resource for resource in planned}
    found: list[_Violation] = []
    for resource in planned:
        if not resource.custom:
            continue
        provider = by_urn.get(resource.provider) if resource.provider else None
        provider_props = provider.inputs if provider is not None else None
        namespace = (provider_props or {}).get("namespace")
        namespace = namespace if isinstance(namespace, str) and namespace else "default"
        for rule in rules.RULES:
            for message in rule.check(resource.type, resource.inputs, provider_props, config.get(rule.name, {}),
                                      namespace):
                fix = rule.description.partition(" Fix: ")[2]
                violation = _Violation(rule.name, resource.type, resource.name, message, fix.strip())
                if violation not in found:
                    found.append(violation)
    return found


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

    def __init__(self, root: Path, home: Path, stack: str, operation: str, language_host: Path | None = None) -> None:
        self.pack = root / _POLICY_PACK_DIR
        # Chosen by detection: the standard `--policy-pack policies` wherever the CLI has its Python language
        # host next to it (it then runs the pack with PULUMI_PYTHON_CMD, the pack's own environment), the
        # analyzer shim otherwise.
        self.analyzer = self.pack if language_host is not None else self.pack / _POLICY_ANALYZER
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
        _remove_orphans(scratch.glob("policy-config-*.json"))
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
