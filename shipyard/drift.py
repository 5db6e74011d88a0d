"""What counts as live drift of a Kubernetes object, and who made it.

Compared: what Shipyard last applied (the provider's recorded inputs) against the object as it is now,
with its `managedFields` saying which field manager wrote each field and when.

- Every field Shipyard set must still have its value (quantities compare by value, `0.5` is `500m`), and
  lists keep their length and items. An empty selector (`podSelector: {}`) means "exactly this": a
  selector narrowed later is drift.
- A field Shipyard did not set is drift only when a person's tool wrote it (`kubectl label`, `kubectl
  edit`, `helm`, a web console): that is how isolation gets switched off by hand. Fields the cluster
  writes (defaults, controllers, the status subresource, `kubernetes.io/metadata.name`) never are.
- A value Shipyard set that a control-plane controller now owns (the autoscaler's `replicas`) is the
  cluster's business, not drift.
- How the API server normalises what was sent is never drift: it stores `[]`, `{}`, `false`, `0` and
  `""` of built-in types as "absent" (`rules: []` comes back as nothing), and a Secret's `stringData` as
  base64 `data`. Both sides are normalised before comparing, for every object, never by name.
- An object that is gone is drift, unless it declared that it goes away by itself (a Helm hook with a
  delete policy, a Job with `ttlSecondsAfterFinished`).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

_QUANTITY = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))([eE][+-]?\d+|[KMGTPE]i|[numkMGTPE])?$")
_SUFFIX = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
           "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
           "P": Decimal("1e15"), "E": Decimal("1e18"), "Ki": Decimal(2**10), "Mi": Decimal(2**20),
           "Gi": Decimal(2**30), "Ti": Decimal(2**40), "Pi": Decimal(2**50), "Ei": Decimal(2**60)}
# Bookkeeping the provider keeps in its inputs, and what the API server owns outright.
_IGNORED_TOP = {"__fieldManager", "__initialApiVersion", "__inputs", "status"}
_IGNORED_METADATA = {"managedFields", "resourceVersion", "uid", "generation", "creationTimestamp",
                     "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "ownerReferences", "finalizers"}
# Written by `kubectl apply` (client side) next to whatever it applied: carries no behaviour of its own.
_NOISE_ANNOTATIONS = {"kubectl.kubernetes.io/last-applied-configuration", "deployment.kubernetes.io/revision"}

SHIPYARD_MANAGER = re.compile(r"^pulumi-kubernetes")
"""Shipyard's own writes: the Kubernetes provider's field manager (and `up`'s repairs, made as it)."""
PEOPLE_MANAGERS = re.compile(r"^(kubectl(-[a-z-]+)?|helm|k9s|kustomize(-[a-z-]+)?|Mozilla|(Open)?Lens|"
                             r"kubernetes-dashboard|headlamp|rancher)$")
"""Field managers of tools people drive by hand: `kubectl-label`, `kubectl-edit`, `kubectl-client-side-apply`,
`kubectl` (server-side apply), `helm`, k9s, Lens and web consoles (browsers identify as `Mozilla`)."""
CLUSTER_MANAGERS = re.compile(r"^(kube-controller-manager|kube-scheduler|kubelet|kube-apiserver|kwok.*|"
                              r"shipyard-local-loadbalancer|cloud-controller-manager|aws-cloud-controller-manager|"
                              r"eks.*|cluster-autoscaler|karpenter)$")
"""The control plane and the cloud's controllers: what they change is the cluster working, not drift."""


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


ABSENT: Any = _Absent()
Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    """`('spec', 'ports', 0, 'port')` -> `spec.ports[0].port`, as Pulumi prints property paths; keys with dots
    or slashes (`metadata.labels["pod-security.kubernetes.io/enforce"]`) are quoted."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$-]*", part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part)}]"
    return text


# -- values ----------------------------------------------------------------------------------------
def _quantity(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(value)
    if not match:
        return None
    try:
        number, suffix = Decimal(match[1]), match[2] or ""
        if suffix[:1] in "eE" and suffix:
            return number * (Decimal(10) ** int(suffix[1:]))
        return number * _SUFFIX[suffix]
    except (InvalidOperation, KeyError, ValueError):
        return None


def _same_scalar(desired: Any, live: Any) -> bool:
    if desired == live:
        return True
    if isinstance(desired, bool) or isinstance(live, bool):
        return False
    a, b = _quantity(desired), _quantity(live)
    return a is not None and a == b


def _zero(value: Any) -> bool:
    """What the API server stores as "absent" for built-in types: null, `[]`, `{}`, `false`, `0`, `""`."""
    return value is None or value is False or (value == 0 and not isinstance(value, bool)) or value in ("", [], {})


def _selector(key: str | int) -> bool:
    return isinstance(key, str) and key.lower().endswith("selector")


def normalize(obj: Mapping[str, Any]) -> dict[str, Any]:
    """`obj` as the API server would return it: a Secret's `stringData` folded into base64 `data`, and a
    CustomResourceDefinition's schema keys spelled as Kubernetes spells them (the Pulumi SDK records
    `x-kubernetes-list-type` as `x_kubernetes_list_type`, `$ref` as `_ref`)."""
    out = dict(obj)
    if out.get("kind") == "CustomResourceDefinition" and isinstance(out.get("spec"), dict):
        out["spec"] = _schema_keys(out["spec"])
    if out.get("kind") == "Secret" and out.get("apiVersion") == "v1" and isinstance(out.get("stringData"), dict):
        data = dict(out.get("data") or {})
        for key, value in out.pop("stringData").items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        out["data"] = data
    return out


def _schema_keys(value: Any, names: bool = False) -> Any:
    """`names`: the keys are property names (under `properties`), not schema keywords: kept as they are."""
    if isinstance(value, dict):
        return {(k if names else _SCHEMA_KEYS.get(k) or (k.replace("_", "-") if k.startswith("x_kubernetes_") else k)):
                _schema_keys(v, not names and k in _NAME_MAPS) for k, v in value.items()}
    if isinstance(value, list):
        return [_schema_keys(v) for v in value]
    return value


_SCHEMA_KEYS = {"_ref": "$ref", "_schema": "$schema"}
_NAME_MAPS = {"properties", "patternProperties", "definitions", "dependencies"}


# -- managed fields --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Writer:
    """One `managedFields` entry: who wrote which fields, how and when."""

    manager: str
    operation: str
    time: str | None
    subresource: str
    paths: frozenset[Path]
    """Leaf paths in the live object this entry owns (list items resolved to their indices)."""

    @property
    def kind(self) -> str:
        """`shipyard`, `cluster` or `people` (`other`: an in-cluster controller or automation we cannot name)."""
        if SHIPYARD_MANAGER.match(self.manager):
            return "shipyard"
        if self.subresource == "status" or CLUSTER_MANAGERS.match(self.manager):
            return "cluster"
        if PEOPLE_MANAGERS.match(self.manager):
            return "people"
        return "other"

    def owns(self, path: Path) -> bool:
        """The path itself, something under it, or an ancestor that was written whole (an atomic list)."""
        n = len(path)
        return any(p[:n] == path or path[:len(p)] == p for p in self.paths)


def writers(live: Mapping[str, Any]) -> list[Writer]:
    out = []
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        if not isinstance(entry, dict) or entry.get("fieldsType") != "FieldsV1":
            continue
        out.append(Writer(str(entry.get("manager") or ""), str(entry.get("operation") or ""), entry.get("time"),
                          str(entry.get("subresource") or ""),
                          frozenset(_field_paths(entry.get("fieldsV1") or {}, live))))
    return out


def _field_paths(fields: Mapping[str, Any], live: Any, prefix: Path = ()) -> Iterator[Path]:
    """Leaf paths of a FieldsV1 set (`f:metadata: {f:labels: {f:team: {}}}`), resolved against the live object."""
    for key, sub in fields.items():
        if key == ".":
            continue
        kind, _, name = key.partition(":")
        child: Any = ABSENT
        step: str | int | None = None
        if kind == "f":
            step = name
            child = live.get(name, ABSENT) if isinstance(live, dict) else ABSENT
        elif kind in ("k", "v", "i") and isinstance(live, list):
            step = _list_index(kind, name, live)
            child = live[step] if step is not None else ABSENT
        if step is None:
            continue
        path = prefix + (step,)
        if not isinstance(sub, dict) or not [k for k in sub if k != "."]:
            yield path
        else:
            yield from _field_paths(sub, child, path)


def _list_index(kind: str, name: str, items: list[Any]) -> int | None:
    try:
        if kind == "i":
            index = int(name)
            return index if 0 <= index < len(items) else None
        wanted = json.loads(name)
    except (ValueError, json.JSONDecodeError):
        return None
    for index, item in enumerate(items):
        if kind == "v" and item == wanted:
            return index
        if kind == "k" and isinstance(item, dict) and isinstance(wanted, dict) and all(
                item.get(k) == v for k, v in wanted.items()):
            return index
    return None


# -- comparison ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FieldDrift:
    path: Path
    desired: Any
    """What Shipyard set (`ABSENT`: a field it never set, added by a person)."""
    live: Any
    by: str | None = None
    at: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": format_path(self.path)}
        if self.by:
            out["by"] = self.by
        if self.at:
            out["at"] = self.at
        return out


@dataclass
class ObjectDrift:
    """The drifted fields of one object Shipyard manages (`missing`: the object is gone)."""

    fields: list[FieldDrift] = field(default_factory=list)
    missing: bool = False

    def __bool__(self) -> bool:
        return self.missing or bool(self.fields)

    @property
    def latest(self) -> FieldDrift | None:
        known = [f for f in self.fields if f.at]
        return max(known, key=lambda f: f.at or "") if known else (self.fields[0] if self.fields else None)


def object_drift(desired: Mapping[str, Any], live: Mapping[str, Any] | None) -> ObjectDrift:
    """How `live` differs from what Shipyard applied (`desired`, the recorded inputs), by whom."""
    if live is None:
        return ObjectDrift(missing=not goes_away_by_itself(desired))
    want, have = normalize(desired), normalize(live)
    owners = writers(live)
    found: list[FieldDrift] = []
    for path, value, current in _differences(want, have):
        owner = _owner(owners, path)
        if owner is not None and owner.kind == "cluster":
            continue  # a controller of the cluster owns it now (an autoscaler's replicas, a defaulted field)
        found.append(FieldDrift(path, value, current, *(_credit(owner))))
    seen = {f.path for f in found}
    for writer in owners:
        if writer.kind != "people" or writer.subresource == "status":
            continue
        for path in sorted(writer.paths, key=str):
            if path in seen or _ignored(path) or any(path[:len(s)] == s for s in seen):
                continue  # already reported, or inside a list or selector reported whole
            current, wanted = _lookup(have, path), _lookup(want, path)
            if current is ABSENT or (wanted is not ABSENT and not _widened(wanted, current)):
                continue
            # A field only people set, or one Shipyard set that a person rewrote with more in it (an atomic
            # list edited whole: `namespaceSelector: {}` added to a peer opens the namespace to everyone).
            seen.add(path)
            found.append(FieldDrift(path, wanted, current, writer.manager, writer.time))
    return ObjectDrift(found)


def _credit(owner: Writer | None) -> tuple[str | None, str | None]:
    return (owner.manager, owner.time) if owner is not None else (None, None)


def _owner(owners: list[Writer], path: Path) -> Writer | None:
    """The most recent writer of `path`: the one who changed it last."""
    candidates = [w for w in owners if w.owns(path)]
    if not candidates:
        return None
    return max(candidates, key=lambda w: (w.time or "", w.kind != "shipyard"))


def _ignored(path: Path) -> bool:
    if not path or path[0] in _IGNORED_TOP:
        return True
    if path[0] == "metadata" and len(path) > 1 and path[1] in _IGNORED_METADATA:
        return True
    return (len(path) > 2 and path[0] == "metadata" and path[1] == "annotations"
            and path[2] in _NOISE_ANNOTATIONS)


def _lookup(obj: Any, path: Path) -> Any:
    for part in path:
        if isinstance(part, int):
            if not isinstance(obj, list) or part >= len(obj):
                return ABSENT
            obj = obj[part]
        else:
            if not isinstance(obj, dict) or part not in obj:
                return ABSENT
            obj = obj[part]
    return obj


def _differences(desired: Any, live: Any, path: Path = ()) -> Iterator[tuple[Path, Any, Any]]:
    """(path, what Shipyard set, what is live) wherever the live object no longer has what was set."""
    if desired is ABSENT:
        return  # a secret still encrypted in the state: nothing to compare it with
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            if not ((live is ABSENT or live is None) and _zero_tree(desired)):
                yield path, desired, live
            return
        if not desired and live and path and _selector(path[-1]):
            yield path, desired, live  # `{}` selects everything: a narrowed selector is drift
            return
        for key, value in desired.items():
            if (not path and key in _IGNORED_TOP) or _ignored(path + (key,)):
                continue
            yield from _differences(value, live.get(key, ABSENT), path + (key,))
        return
    if isinstance(desired, list):
        if live is ABSENT or live is None:
            if desired:
                yield path, desired, live
            return
        if not isinstance(live, list) or len(live) != len(desired):
            yield path, desired, live
            return
        for index, (want, have) in enumerate(zip(desired, live)):
            yield from _differences(want, have, path + (index,))
        return
    if live is ABSENT or live is None:
        if not _zero(desired):
            yield path, desired, live
        return
    if not _same_scalar(desired, live):
        yield path, desired, live


def _widened(desired: Any, live: Any) -> bool:
    """`live` holds more than `desired`: keys Shipyard never set (even empty ones: `{}` selects everything)."""
    if isinstance(desired, dict) and isinstance(live, dict):
        return any(key not in desired or _widened(desired[key], value) for key, value in live.items())
    if isinstance(desired, list) and isinstance(live, list):
        return len(desired) != len(live) or any(_widened(a, b) for a, b in zip(desired, live))
    return False


def _zero_tree(value: Any) -> bool:
    """A map of nothing but zero values: the API server drops it whole (`securityContext: {}`)."""
    if isinstance(value, dict):
        return all(_zero_tree(v) for v in value.values())
    return _zero(value)


def goes_away_by_itself(obj: Mapping[str, Any]) -> bool:
    """Objects that declare their own end: Helm hooks with a delete policy, Jobs cleaned up after finishing."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if annotations.get("helm.sh/hook") and annotations.get("helm.sh/hook-delete-policy"):
        return True
    return obj.get("kind") == "Job" and (obj.get("spec") or {}).get("ttlSecondsAfterFinished") is not None


# -- repairs ---------------------------------------------------------------------------------------
def repair_patch(desired: Mapping[str, Any], drift: ObjectDrift) -> dict[str, Any]:
    """A JSON merge patch (RFC 7386) putting back what Shipyard set: maps merge (other keys stay), lists Shipyard
    set are replaced whole (items added out of band go), fields a person added are removed (`null`)."""
    want = normalize(desired)
    patch: dict[str, Any] = {}
    for found in drift.fields:
        keys: list[str] = []
        for part in found.path:
            if isinstance(part, int):
                break
            keys.append(part)
        if not keys:
            continue
        whole = tuple(keys) != found.path  # inside a list: the list is put back whole
        value = _lookup(want, tuple(keys))
        target = patch
        for key in keys[:-1]:
            node = target.setdefault(key, {})
            if not isinstance(node, dict):
                break
            target = node
        else:
            if value is ABSENT:
                if not whole:
                    target[keys[-1]] = None
            elif not whole and isinstance(value, dict) and isinstance(found.live, dict):
                # A merge patch merges maps: keys the live map has beyond Shipyard's must be nulled out
                # (a narrowed `podSelector: {}` gets its `matchLabels` removed).
                target[keys[-1]] = _replacing(value, found.live)
            else:
                target[keys[-1]] = value
    return patch


def _replacing(desired: dict[str, Any], live: dict[str, Any]) -> dict[str, Any]:
    """A merge patch turning the map `live` into exactly `desired`."""
    out: dict[str, Any] = {key: None for key in live if key not in desired}
    for key, value in desired.items():
        out[key] = _replacing(value, live[key]) if isinstance(value, dict) and isinstance(live.get(key), dict) else value
    return out


# -- what nobody declared --------------------------------------------------------------------------
ACCESS_KINDS = {("rbac.authorization.k8s.io/v1", "RoleBinding"), ("networking.k8s.io/v1", "NetworkPolicy")}


@dataclass(frozen=True)
class Unmanaged:
    """An object granting access or opening the network that no stack declared."""

    api_version: str
    kind: str
    namespace: str | None
    name: str
    by: str | None
    at: str | None
    reason: str


def unmanaged_objects(live: list[Mapping[str, Any]], managed: set[tuple[str, str, str | None, str]],
                      namespaces: set[str], groups: set[str]) -> list[Unmanaged]:
    """RoleBindings and NetworkPolicies in `namespaces`, and ClusterRoleBindings naming one of `groups` or a
    service account of those namespaces, that are not in `managed` (kind, apiVersion, namespace, name) and
    not created by a controller (objects with an owner belong to it)."""
    out = []
    for obj in live:
        meta = obj.get("metadata") or {}
        key = (str(obj.get("apiVersion")), str(obj.get("kind")), meta.get("namespace"), str(meta.get("name")))
        if key in managed or meta.get("ownerReferences"):
            continue
        reason = None
        if (key[0], key[1]) in ACCESS_KINDS and key[2] in namespaces:
            reason = "grants access" if key[1] == "RoleBinding" else "opens the network"
        elif key[1] == "ClusterRoleBinding":
            for subject in obj.get("subjects") or []:
                if subject.get("kind") == "Group" and subject.get("name") in groups:
                    reason = f"grants cluster-wide access to group {subject['name']}"
                elif subject.get("kind") == "ServiceAccount" and subject.get("namespace") in namespaces:
                    reason = f"grants cluster-wide access to a service account of {subject['namespace']}"
        if reason is None:
            continue
        creator = min(writers(obj), key=lambda w: w.time or "", default=None)
        out.append(Unmanaged(key[0], key[1], key[2], key[3], *(_credit(creator)), reason))
    return sorted(out, key=lambda u: (u.kind, u.namespace or "", u.name))
