"""A stack's Kubernetes objects as they are now, read in one pass, judged by `shipyard.drift`.

Why not the engine's refresh: it reads each object through the provider (a minute for the 263 objects of
the six catalog add-ons), and it neither sees fields Shipyard never set (a label added by hand) nor who
made a change. Here the state export says what Shipyard applied; one `kubectl get -f -` reads every
object with its `managedFields`, and one listing finds access nobody declared. kubectl is the client
because it speaks every kubeconfig users have (client certificates, tokens, `aws eks get-token`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.drift import (ABSENT, ObjectDrift, Unmanaged, format_path, object_drift, repair_patch,
                            unmanaged_objects)
from shipyard.errors import ShipyardError

_SECRET_SIG = "4dabf18193072939515e22adb298388d"
"""Pulumi's marker of a secret value in state (`{sig: ..., plaintext|ciphertext: ...}`)."""
_NOT_OBJECTS = ("pulumi:", "kubernetes:helm.sh/", "kubernetes:yaml/", "kubernetes:kustomize/")
MASK = "[secret]"
_UNKNOWN_KIND = re.compile(r"no matches for kind|the server doesn't have a resource type|"
                           r"could not find the requested resource")


class LiveReadError(ShipyardError):
    """The cluster could not be read (unreachable, credentials refused)."""


@dataclass(frozen=True)
class Managed:
    """One Kubernetes object of the stack, as Shipyard last applied it."""

    urn: str
    type: str
    desired: dict[str, Any]
    manager: str
    secret_paths: frozenset[tuple[str | int, ...]] = frozenset()
    """Paths of values that were secrets in the state: never printed."""

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    @property
    def identity(self) -> tuple[str, str, str | None, str]:
        meta = self.desired.get("metadata") or {}
        return (str(self.desired.get("apiVersion")), str(self.desired.get("kind")), meta.get("namespace"),
                str(meta.get("name")))


@dataclass(frozen=True)
class Repair:
    """One object `up` puts back: the merge patch, and each field as old (live) -> new (Shipyard's)."""

    urn: str
    type: str
    name: str
    manager: str
    identity: dict[str, Any]
    patch: dict[str, Any]
    fields: tuple[dict[str, Any], ...]
    recreate: bool = False
    """The object is gone: the update recreates it (its refresh finds it missing); nothing to patch."""

    def as_json(self) -> dict[str, Any]:
        return {"urn": self.urn, "type": self.type, "name": self.name,
                "action": "recreate" if self.recreate else "patch", "fields": list(self.fields)}


@dataclass
class LiveFindings:
    drifted: list[tuple[Managed, ObjectDrift]] = field(default_factory=list)
    unmanaged: list[Unmanaged] = field(default_factory=list)
    repairs: list[Repair] = field(default_factory=list)
    objects: int = 0
    others: list[str] = field(default_factory=list)
    """URNs of the stack's resources that are not Kubernetes objects (AWS...): the engine refreshes those."""
    kubeconfig: str = field(default="", repr=False)
    """The stack's kubeconfig output (a secret: never printed), for `up`'s repairs."""


def unwrap_secrets(value: Any, path: tuple[str | int, ...] = (),
                   found: set[tuple[str | int, ...]] | None = None) -> Any:
    """The state's values with Pulumi's secret envelopes opened (`--show-secrets` export), noting their paths."""
    if isinstance(value, dict):
        if value.get(_SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270":
            if found is not None:
                found.add(path)
            if "plaintext" in value:
                try:
                    return unwrap_secrets(json.loads(value["plaintext"]), path, None)
                except (TypeError, json.JSONDecodeError):
                    return value["plaintext"]
            return ABSENT  # still encrypted: cannot be compared
        return {k: unwrap_secrets(v, path + (k,), found) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v, path + (i,), found) for i, v in enumerate(value)]
    return value


def stack_objects(deployment: Mapping[str, Any]) -> tuple[list[Managed], list[str], str | None]:
    """(Kubernetes objects, URNs of other custom resources, the stack's kubeconfig output) of a state export."""
    objects, others, kubeconfig = [], [], None
    for resource in deployment.get("resources") or []:
        rtype = str(resource.get("type") or "")
        if rtype == "pulumi:pulumi:Stack":
            value = unwrap_secrets((resource.get("outputs") or {}).get("kubeconfig"))
            kubeconfig = value if isinstance(value, str) else None
            continue
        if not resource.get("custom") or rtype.startswith(_NOT_OBJECTS) or resource.get("delete"):
            continue
        if not rtype.startswith("kubernetes:"):
            others.append(str(resource["urn"]))
            continue
        outputs = resource.get("outputs") or {}
        secrets: set[tuple[str | int, ...]] = set()
        desired = unwrap_secrets(outputs.get("__inputs") or resource.get("inputs") or {}, (), secrets)
        if not isinstance(desired, dict) or "kind" not in desired:
            continue
        objects.append(Managed(str(resource["urn"]), rtype, desired,
                               str(unwrap_secrets(outputs.get("__fieldManager")) or "pulumi-kubernetes"),
                               frozenset(secrets)))
    return objects, others, kubeconfig


class Kubectl:
    """kubectl against one kubeconfig, written to a private file for the duration."""

    def __init__(self, binary: Path, kubeconfig: str, scratch: Path):
        self.binary = binary
        scratch.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="kubeconfig-", dir=scratch)
        with os.fdopen(fd, "w") as handle:
            handle.write(kubeconfig)
        self.config = Path(name)

    def close(self) -> None:
        self.config.unlink(missing_ok=True)

    def __enter__(self) -> Kubectl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, *args: str, stdin: str | None = None, timeout: float = 120) -> str:
        try:
            result = subprocess.run([str(self.binary), f"--kubeconfig={self.config}", *args], input=stdin,
                                    capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise LiveReadError(f"the cluster did not answer within {timeout:.0f} s (kubectl {args[0]})") from None
        if result.returncode != 0:
            raise LiveReadError(f"reading the cluster failed: {result.stderr.strip()[:500]}")
        return result.stdout

    def get(self, identities: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The live objects for `identities` (absent ones are left out), with their managedFields. One call for
        all; when a kind is no longer served (its CRD was deleted out of band), kubectl refuses the whole list,
        so each kind is read on its own and the objects of a kind the cluster no longer knows count as absent."""
        if not identities:
            return []
        try:
            return self._get(identities)
        except LiveReadError as exc:
            if not _UNKNOWN_KIND.search(str(exc)):
                raise
        by_kind: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for identity in identities:
            by_kind.setdefault((identity["apiVersion"], identity["kind"]), []).append(identity)
        found: list[dict[str, Any]] = []
        for group in by_kind.values():
            try:
                found += self._get(group)
            except LiveReadError as exc:
                if not _UNKNOWN_KIND.search(str(exc)):
                    raise
        return found

    def _get(self, identities: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = self.run("get", "-f", "-", "-o", "json", "--show-managed-fields", "--ignore-not-found",
                       stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": identities}))
        return _items(out)

    def list(self, kinds: str) -> list[dict[str, Any]]:
        return _items(self.run("get", kinds, "--all-namespaces", "-o", "json", "--show-managed-fields"))

    def patch(self, repair: Repair) -> None:
        # A merge patch, not a server-side apply: SSA cannot remove list items another field manager added
        # (a subject, a port); a merge patch replaces the lists Shipyard set and drops keys set to null.
        self.run("patch", "-f", "-", "--type=merge", f"--field-manager={repair.manager}", "-p",
                 json.dumps(repair.patch), stdin=json.dumps(repair.identity))


def _items(text: str) -> list[dict[str, Any]]:
    if not text.strip():
        return []
    data = json.loads(text)
    return list(data.get("items") or []) if data.get("kind", "").endswith("List") else [data]


def _key(obj: Mapping[str, Any]) -> tuple[str, str, str | None, str]:
    meta = obj.get("metadata") or {}
    return (str(obj.get("apiVersion")), str(obj.get("kind")), meta.get("namespace"), str(meta.get("name")))


def read(deployment: Mapping[str, Any], kubectl_binary: Path, scratch: Path) -> LiveFindings:
    """Every Kubernetes object of the stack compared with the cluster, plus the access nobody declared."""
    objects, others, kubeconfig = stack_objects(deployment)
    findings = LiveFindings(objects=len(objects), others=others, kubeconfig=kubeconfig or "")
    if not objects or kubeconfig is None:
        return findings
    identities = []
    for obj in objects:
        meta = obj.desired.get("metadata") or {}
        identities.append({"apiVersion": obj.desired["apiVersion"], "kind": obj.desired["kind"],
                           "metadata": {k: meta[k] for k in ("name", "namespace") if k in meta}})
    with Kubectl(kubectl_binary, kubeconfig, scratch) as kubectl, ThreadPoolExecutor(2) as pool:
        access = pool.submit(kubectl.list, "rolebindings.rbac.authorization.k8s.io,"
                                           "networkpolicies.networking.k8s.io,clusterrolebindings.rbac.authorization.k8s.io")
        live = {_key(item): item for item in kubectl.get(identities)}
        listed = access.result()
    for obj in objects:
        # The live apiVersion may be another served version of the same kind; identity is group/kind/ns/name.
        current = live.get(obj.identity) or _same_kind(live, obj.identity)
        drift = object_drift(obj.desired, current)
        if drift:
            findings.drifted.append((obj, drift))
            findings.repairs.append(_repair(obj, drift))
    namespaces = {o.desired["metadata"]["name"] for o in objects
                  if o.desired.get("kind") == "Namespace" and (o.desired.get("metadata") or {}).get("name")}
    groups = {s.get("name") for o in objects if o.desired.get("kind") in ("RoleBinding", "ClusterRoleBinding")
              for s in o.desired.get("subjects") or [] if isinstance(s, dict) and s.get("kind") == "Group"}
    managed = {o.identity for o in objects}
    findings.unmanaged = unmanaged_objects(listed, managed, namespaces, groups - {None})
    return findings


def _same_kind(live: Mapping[tuple[str, str, str | None, str], Any],
               identity: tuple[str, str, str | None, str]) -> Any:
    group = identity[0].rpartition("/")[0]
    for key, value in live.items():
        if key[1:] == identity[1:] and key[0].rpartition("/")[0] == group:
            return value
    return None


def _repair(obj: Managed, drift: ObjectDrift) -> Repair:
    fields = []
    for found in drift.fields:
        secret = obj.desired.get("kind") == "Secret" or any(
            found.path[:len(p)] == p or p[:len(found.path)] == found.path for p in obj.secret_paths)
        fields.append({"path": format_path(found.path),
                       "old": MASK if secret else _plain(found.live),
                       "new": MASK if secret else _plain(found.desired),
                       **({"by": found.by} if found.by else {})})
    meta = obj.desired.get("metadata") or {}
    identity = {"apiVersion": obj.desired["apiVersion"], "kind": obj.desired["kind"],
                "metadata": {k: meta[k] for k in ("name", "namespace") if k in meta}}
    return Repair(obj.urn, obj.type, obj.name, obj.manager, identity, repair_patch(obj.desired, drift),
                  tuple(fields), recreate=drift.missing)


def _plain(value: Any) -> Any:
    return None if value is ABSENT else value
