"""Small helpers every component shares: labels, deterministic values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
TEAM_LABEL = "shipyard.io/team"


def shipyard_labels(team: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Labels on every Kubernetes object Shipyard creates directly (drift checks and RBAC audits key on them)."""
    return canonical({**(extra or {}), MANAGED_BY_LABEL: "shipyard", TEAM_LABEL: team})


def cloud_tags(team: str, environment: str, tags: Mapping[str, str]) -> dict[str, str]:
    """AWS tags on every cloud resource: the team's own tags plus the platform's (which win)."""
    return canonical({**tags, "team": team, "environment": environment, "managed-by": "shipyard"})


def canonical(value: Any) -> Any:
    """Sorted keys, no `None` values, recursively: the one way Helm values and labels are serialised,
    so two previews of the same input never show a phantom diff."""
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0])) if v is not None}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` merged over `base`: mappings merge key by key, anything else (lists too) replaces."""
    merged: dict[str, Any] = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# API groups served from Go types: the API server stores an empty list or a null of these as "absent", so
# a chart that renders `rules: []` would differ from the live object forever. Custom resources keep what
# they are sent (`[]` may differ from absent there), so only these are normalised.
BUILTIN_GROUPS = frozenset({
    "core", "apps", "batch", "autoscaling", "policy", "rbac.authorization.k8s.io", "networking.k8s.io",
    "admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io", "storage.k8s.io",
    "scheduling.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "node.k8s.io", "certificates.k8s.io",
    "flowcontrol.apiserver.k8s.io", "resource.k8s.io", "events.k8s.io",
})


def stored_form(value: Any) -> Any:
    """`value` without the empty lists and nulls the API server drops from built-in objects."""
    if isinstance(value, Mapping):
        return {k: stored_form(v) for k, v in value.items() if v is not None and not (isinstance(v, list) and not v)}
    if isinstance(value, list):
        return [stored_form(v) for v in value]
    return value


def builtin_group(resource_type: str) -> str | None:
    """`kubernetes:rbac.authorization.k8s.io/v1:Role` -> `rbac.authorization.k8s.io`; None for non-Kubernetes."""
    package, _, rest = resource_type.partition(":")
    if package != "kubernetes" or "/" not in rest:
        return None
    return rest.split("/", 1)[0]
