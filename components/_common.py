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
