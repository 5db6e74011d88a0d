"""The one place a validated stack file is mapped onto component arguments."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from components._common import deep_merge
from components.addons import AddonBundleArgs, AddonSpec
from components.cluster import (AccessArgs, ClusterArgs, EksArgs, IamStatement, NodeGroupArgs,
                                WorkloadIdentityArgs)
from components.tenancy import NamespaceSpec, TeamTenancyArgs
from shipyard.catalog import AddonIdentity, Catalog
from shipyard.models import StackFile
from shipyard.policy import Policy


@dataclass(frozen=True)
class PlatformArgs:
    cluster: ClusterArgs
    addons: AddonBundleArgs
    tenancy: TeamTenancyArgs


def args_from_stack(stack: StackFile, catalog: Catalog, policy: Policy, *, kubeconfig: pulumi.Input[str] | None,
                    charts: Mapping[str, str]) -> PlatformArgs:
    """`charts`: add-on -> its verified, staged chart archive (shipyard.program.addon_charts)."""
    prod = stack.environment == "prod"
    spec = stack.cluster
    eks = None
    gets = catalog.addons_for(stack)
    identities = catalog.identities_for(stack)
    zones = tuple(stack.addons.dns.zones) if stack.addons.dns is not None else ()
    if spec.provider == "eks":
        assert spec.region and spec.kubernetes_version and spec.node_groups  # guaranteed by validation
        assert catalog.core_addons is not None  # load_catalog loads the table with the catalog
        rules = policy.environments[stack.environment]
        autoscaled = catalog.autoscaled(stack)
        eks = EksArgs(
            region=spec.region, kubernetes_version=spec.kubernetes_version,
            node_groups=tuple(NodeGroupArgs(name=g.name, instance_type=g.instance_type, min_size=g.min_size,
                                            desired_size=g.desired_size, max_size=g.max_size,
                                            disk_size_gib=g.disk_size_gib, capacity_type=g.capacity_type,
                                            labels=dict(g.labels), autoscaled=autoscaled) for g in spec.node_groups),
            access=AccessArgs(admin_role_arn=rules.apply_role_arn, preview_role_arn=rules.preview_role_arn,
                              groups={group: tuple(roles) for group, roles in
                                      (spec.access.groups.items() if spec.access is not None else ())}),
            availability_zones=spec.availability_zones, vpc_cidr=spec.vpc_cidr,
            public_endpoint=spec.public_endpoint, nat_per_zone=prod,
            core_addons=catalog.core_addons.for_version(spec.kubernetes_version),
            identities=tuple(WorkloadIdentityArgs(
                addon=addon, namespace=catalog.identity_namespace(addon), service_account=identity.service_account,
                statements=tuple(IamStatement(s.rendered(stack.stack_name), zone_scoped=s.zone_scoped)
                                 for s in identity.statements),
                hosted_zones=zones if identity.hosted_zones else ()) for addon, identity in identities.items()))
    cluster = ClusterArgs(team=stack.team, environment=stack.environment, provider=spec.provider,
                          tags=dict(stack.tags), eks=eks, kubeconfig=kubeconfig, protect=prod)
    local = spec.provider == "local"
    addons = AddonBundleArgs(
        team=stack.team, environment=stack.environment,
        # Values: the catalog's, then its `localValues` on local clusters only, then what its identity needs
        # (the zones it may change), then the stack's own.
        addons=tuple(AddonSpec(name=name, chart=entry.chart, repository=entry.repository, version=entry.version,
                               namespace=entry.namespace, archive=charts[name],
                               generated_secrets=tuple((g.name, tuple(g.keys)) for g in entry.generated_secrets),
                               values=deep_merge(deep_merge(deep_merge(entry.values,
                                                                       entry.local_values if local else {}),
                                                            _identity_values(identities.get(name), zones)),
                                                 stack.addons.values.get(name, {})))
                     for name in gets for entry in [catalog.addons[name]]))
    unresolved = [ns.name for ns in stack.namespaces if ns.quota is None]
    if unresolved:  # check_stack resolves the environment's default quota; a stack that skipped it has no quota to map
        raise ValueError(f"namespaces {', '.join(unresolved)} have no quota; pass the stack from check_stack")
    tenancy = TeamTenancyArgs(
        team=stack.team, environment=stack.environment, protect=prod,
        namespaces=tuple(NamespaceSpec(name=ns.name, cpu=str(ns.quota.cpu), memory=str(ns.quota.memory),
                                       pods=str(ns.quota.pods), admins=tuple(ns.admins),
                                       developers=tuple(ns.developers), viewers=tuple(ns.viewers))
                         for ns in stack.namespaces if ns.quota is not None))
    addons = dataclasses.replace(addons, guarded_groups=tenancy.guarded_groups)
    return PlatformArgs(cluster=cluster, addons=addons, tenancy=tenancy)


def _identity_values(identity: AddonIdentity | None, zones: tuple[str, ...]) -> dict[str, Any]:
    """The Helm values an add-on's identity implies: its zones at `zoneValues` (external-dns: domainFilters)."""
    if identity is None or identity.zone_values is None or not zones:
        return {}
    value: dict[str, Any] = {}
    node = value
    *parents, last = identity.zone_values.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = list(zones)
    return value
