"""The one place a validated stack file is mapped onto component arguments."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from components._common import deep_merge
from components.addons import AddonBundleArgs, AddonSpec
from components.cluster import ClusterArgs, EksArgs, NodeGroupArgs
from components.tenancy import NamespaceSpec, TeamTenancyArgs
from shipyard.catalog import Catalog
from shipyard.models import StackFile


@dataclass(frozen=True)
class PlatformArgs:
    cluster: ClusterArgs
    addons: AddonBundleArgs
    tenancy: TeamTenancyArgs


def args_from_stack(stack: StackFile, catalog: Catalog, *, kubeconfig: pulumi.Input[str] | None,
                    charts: Mapping[str, str]) -> PlatformArgs:
    """`charts`: add-on -> its verified, staged chart archive (shipyard.program.addon_charts)."""
    prod = stack.environment == "prod"
    spec = stack.cluster
    eks = None
    if spec.provider == "eks":
        assert spec.region and spec.kubernetes_version and spec.node_groups  # guaranteed by validation
        eks = EksArgs(
            region=spec.region, kubernetes_version=spec.kubernetes_version,
            node_groups=tuple(NodeGroupArgs(name=g.name, instance_type=g.instance_type, min_size=g.min_size,
                                            desired_size=g.desired_size, max_size=g.max_size,
                                            disk_size_gib=g.disk_size_gib, capacity_type=g.capacity_type,
                                            labels=dict(g.labels)) for g in spec.node_groups),
            availability_zones=spec.availability_zones, vpc_cidr=spec.vpc_cidr,
            public_endpoint=spec.public_endpoint, nat_per_zone=prod)
    cluster = ClusterArgs(team=stack.team, environment=stack.environment, provider=spec.provider,
                          tags=dict(stack.tags), eks=eks, kubeconfig=kubeconfig, protect=prod)
    local = spec.provider == "local"
    addons = AddonBundleArgs(
        team=stack.team, environment=stack.environment,
        # Values: the catalog's, then its `localValues` on local clusters only, then the stack's own.
        addons=tuple(AddonSpec(name=name, chart=entry.chart, repository=entry.repository, version=entry.version,
                               namespace=entry.namespace, archive=charts[name],
                               values=deep_merge(deep_merge(entry.values, entry.local_values if local else {}),
                                                 stack.addons.values.get(name, {})))
                     for name in catalog.addons_for(stack) for entry in [catalog.addons[name]]))
    unresolved = [ns.name for ns in stack.namespaces if ns.quota is None]
    if unresolved:  # check_stack resolves the environment's default quota; a stack that skipped it cannot be built
        raise ValueError(f"namespaces {', '.join(unresolved)} have no quota; pass the stack from check_stack")
    tenancy = TeamTenancyArgs(
        team=stack.team, environment=stack.environment, protect=prod,
        namespaces=tuple(NamespaceSpec(name=ns.name, cpu=str(ns.quota.cpu), memory=str(ns.quota.memory),
                                       pods=str(ns.quota.pods), admins=tuple(ns.admins),
                                       developers=tuple(ns.developers), viewers=tuple(ns.viewers))
                         for ns in stack.namespaces if ns.quota is not None))
    addons = dataclasses.replace(addons, guarded_groups=tenancy.guarded_groups)
    return PlatformArgs(cluster=cluster, addons=addons, tenancy=tenancy)
