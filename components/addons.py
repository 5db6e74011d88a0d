"""AddonBundle: the stack's catalog add-ons, each a namespace plus a Helm chart at its exact pinned version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components._common import BUILTIN_GROUPS, builtin_group, canonical, shipyard_labels, stored_form


@dataclass(frozen=True)
class AddonSpec:
    """One add-on as the catalog pins it, with the stack's values already merged in."""

    name: str
    chart: str
    repository: str
    version: str
    namespace: str
    archive: str
    """The chart archive, verified against the catalog's digest, as a repository-relative path
    (`.charts/<chart>-<version>.tgz`): the same on every machine, so it never shows as a diff."""
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AddonBundleArgs:
    team: str
    addons: tuple[AddonSpec, ...]


def _check(addon: AddonSpec) -> None:
    archive = PurePosixPath(addon.archive)
    if archive.is_absolute() or ".." in archive.parts or "\\" in addon.archive:
        raise ValueError(f"add-on '{addon.name}': chart archive {addon.archive!r} must be a path relative to the "
                         "repository; an absolute path differs between machines and shows as a diff in every preview")
    if archive.name != f"{addon.chart}-{addon.version}.tgz":
        raise ValueError(f"add-on '{addon.name}': chart archive {addon.archive!r} is not "
                         f"{addon.chart}-{addon.version}.tgz, the archive of the pinned chart version")


class AddonBundle(pulumi.ComponentResource):
    """Installs add-ons through the cluster's Kubernetes provider (the add-on never picks its own), each from
    its verified chart archive."""

    charts: dict[str, k8s.helm.v4.Chart]

    def __init__(self, name: str, args: AddonBundleArgs, provider: pulumi.ProviderResource,
                 opts: pulumi.ResourceOptions | None = None):
        for addon in args.addons:  # checked before anything is registered
            _check(addon)
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
        return k8s.helm.v4.Chart(
            f"{name}-{addon.name}",
            namespace=addon.namespace,
            values=canonical(addon.values),
            # Deterministic release name: the add-on's, not a random suffix, so renders are stable.
            name=addon.name,
            chart=addon.archive,
            # Helm ignores `version` for an archive path, but as an input it shows in previews, and a version
            # change is graded as a chart change (shipyard/runner.py).
            version=addon.version,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[ns],
                                                                            transforms=[_as_stored])))


def _as_stored(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    """Each rendered built-in object as the API server stores it (`rules: []` is kept as nothing), so what the
    chart renders and what the cluster returns agree and no preview shows a change that can never apply."""
    if builtin_group(args.type_) not in BUILTIN_GROUPS:
        return None
    return pulumi.ResourceTransformResult(props=stored_form(args.props), opts=args.opts)

