"""AddonBundle: the stack's catalog add-ons, each a namespace plus a Helm chart at its exact pinned version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components._common import BUILTIN_GROUPS, builtin_group, canonical, shipyard_labels, stored_form
from shipyard.catalog import chart_version


@dataclass(frozen=True)
class AddonSpec:
    """One add-on as the catalog pins it, with the stack's values already merged in."""

    name: str
    chart: str
    repository: str
    version: str
    namespace: str
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AddonBundleArgs:
    team: str
    addons: tuple[AddonSpec, ...]
    chart_mirror: Path | None = None
    """Directory holding `<chart>/Chart.yaml` copies; when set, no chart repository is contacted."""


class AddonBundle(pulumi.ComponentResource):
    """Installs add-ons through the cluster's Kubernetes provider (the add-on never picks its own)."""

    charts: dict[str, k8s.helm.v4.Chart]

    def __init__(self, name: str, args: AddonBundleArgs, provider: pulumi.ProviderResource,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("shipyard:addons:AddonBundle", name, None, opts)
        self.charts = {}
        for addon in args.addons:
            self.charts[addon.name] = self._install(name, args, addon, provider)
        self.register_outputs({"addons": {a.name: a.version for a in args.addons}})

    def _install(self, name: str, args: AddonBundleArgs, addon: AddonSpec,
                 provider: pulumi.ProviderResource) -> k8s.helm.v4.Chart:
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        ns = k8s.core.v1.Namespace(
            f"{name}-{addon.name}-ns",
            metadata={"name": addon.namespace,
                      "labels": shipyard_labels(args.team, {"shipyard.io/addon": addon.name})},
            opts=child)
        source: dict[str, Any]
        if args.chart_mirror is not None:
            chart_dir = args.chart_mirror / addon.chart
            mirrored = chart_version(chart_dir)
            if mirrored != addon.version:
                # Checked before anything is registered: a mirror out of step with the pin must not deploy.
                raise ValueError(f"add-on '{addon.name}' is pinned to {addon.chart} {addon.version} but the chart "
                                 f"mirror {chart_dir} has {mirrored or 'no chart'}; update the mirror")
            source = {"chart": str(chart_dir)}
        else:
            source = {"chart": addon.chart, "version": addon.version,
                      "repository_opts": k8s.helm.v4.RepositoryOptsArgs(repo=addon.repository)}
        return k8s.helm.v4.Chart(
            f"{name}-{addon.name}",
            namespace=addon.namespace,
            values=canonical(addon.values),
            # Deterministic release name: the add-on's, not a random suffix, so renders are stable.
            name=addon.name,
            **source,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[ns],
                                                                            transforms=[_as_stored])))


def _as_stored(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    """Each rendered built-in object as the API server stores it (`rules: []` is kept as nothing), so what the
    chart renders and what the cluster returns agree and no preview shows a change that can never apply."""
    if builtin_group(args.type_) not in BUILTIN_GROUPS:
        return None
    return pulumi.ResourceTransformResult(props=stored_form(args.props), opts=args.opts)

