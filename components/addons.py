"""AddonBundle: the stack's catalog add-ons, each a namespace plus a Helm chart at its exact pinned version."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components._common import BUILTIN_GROUPS, TEAM_LABEL, builtin_group, canonical, shipyard_labels, stored_form
from components._guard import deny_team_groups

ADDON_LABEL = "shipyard.io/addon"


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
    generated_secrets: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(Secret name, keys): Secrets the chart expects but only its Helm hooks would make; created here first."""


@dataclass(frozen=True)
class AddonBundleArgs:
    team: str
    addons: tuple[AddonSpec, ...]
    environment: str = ""
    guarded_groups: tuple[str, ...] = ()
    """The team's groups (as the tenancy guard's): refused any change in the add-on namespaces."""


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
    guard: k8s.admissionregistration.v1.ValidatingAdmissionPolicy | None

    def __init__(self, name: str, args: AddonBundleArgs, provider: pulumi.ProviderResource,
                 opts: pulumi.ResourceOptions | None = None):
        for addon in args.addons:  # checked before anything is registered
            _check(addon)
        super().__init__("shipyard:addons:AddonBundle", name, None, opts)
        self.charts = {}
        for addon in args.addons:
            self.charts[addon.name] = self._install(name, args, addon, provider)
        self.guard = self._guard(name, args, provider) if args.addons and args.guarded_groups else None
        self.register_outputs({"addons": {a.name: a.version for a in args.addons}})

    def _guard(self, name: str, args: AddonBundleArgs,
               provider: pulumi.ProviderResource) -> k8s.admissionregistration.v1.ValidatingAdmissionPolicy:
        """The add-on namespaces are the platform's: the team's groups may not create, change or delete
        anything there (a RoleBinding of their own, an allow-all NetworkPolicy, a patched Deployment)."""
        return deny_team_groups(
            f"{name}-guard", f"shipyard-{args.team}-{args.environment}-addon-guard", args.team, args.guarded_groups,
            {"namespaceSelector": {"matchLabels": {TEAM_LABEL: args.team},
                                   "matchExpressions": [{"key": ADDON_LABEL, "operator": "Exists"}]},
             # `*/*`: every resource and its subresources (a Deployment's `scale`); `*` alone leaves those out.
             "resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*/*"],
                                "operations": ["CREATE", "UPDATE", "DELETE"]}]},
            "managed by Shipyard (a platform add-on)", f"stacks/{args.team}/{args.environment}.yaml",
            pulumi.ResourceOptions(parent=self, provider=provider))

    def _install(self, name: str, args: AddonBundleArgs, addon: AddonSpec,
                 provider: pulumi.ProviderResource) -> k8s.helm.v4.Chart:
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        ns = k8s.core.v1.Namespace(
            f"{name}-{addon.name}-ns",
            metadata={"name": addon.namespace,
                      "labels": shipyard_labels(args.team, {ADDON_LABEL: addon.name})},
            opts=child)
        made = [self._generated_secret(name, args, addon, secret, keys, ns, child)
                for secret, keys in addon.generated_secrets]
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
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[ns, *made],
                                                                            transforms=[_as_stored])))

    @staticmethod
    def _generated_secret(name: str, args: AddonBundleArgs, addon: AddonSpec, secret: str, keys: tuple[str, ...],
                          ns: k8s.core.v1.Namespace, child: pulumi.ResourceOptions) -> k8s.core.v1.Secret:
        # Fresh random values on every run, but `ignore_changes` keeps the ones the Secret was created with: the
        # state and the cluster agree (no diff, no drift) and the add-on's data stays readable. Deleting the
        # Secret makes the next `up` create it again with new values.
        return k8s.core.v1.Secret(
            f"{name}-{addon.name}-{secret}",
            metadata={"name": secret, "namespace": addon.namespace, "labels": shipyard_labels(args.team)},
            type="Opaque",
            string_data={key: pulumi.Output.secret(secrets.token_urlsafe(32)) for key in keys},
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                depends_on=[ns], ignore_changes=["stringData", "data"],
                additional_secret_outputs=["stringData", "data"])))


def _as_stored(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    """Each rendered built-in object as the API server stores it (`rules: []` is kept as nothing), so what the
    chart renders and what the cluster returns agree and no preview shows a change that can never apply."""
    if builtin_group(args.type_) not in BUILTIN_GROUPS:
        return None
    return pulumi.ResourceTransformResult(props=stored_form(args.props), opts=args.opts)

