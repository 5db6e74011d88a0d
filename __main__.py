"""Shipyard's Pulumi program: one team stack file -> its cluster, add-ons and namespaces."""

from pathlib import Path

import pulumi

from components import AddonBundle, Cluster, TeamTenancy
from components.platform import args_from_stack
from shipyard.cost import COST_OUTPUT
from shipyard.program import addon_charts, kubeconfig_for, load_stack
from shipyard.upgrades import KUBERNETES_VERSION_OUTPUT

ROOT = Path(__file__).resolve().parent
config = pulumi.Config()

# Validate first: an invalid file, or a chart archive without its pinned digest, becomes a RunError before
# any resource is registered.
loaded = load_stack(ROOT, pulumi.get_stack())
stack = loaded.stack
args = args_from_stack(stack, loaded.catalog, loaded.policy, kubeconfig=kubeconfig_for(stack, ROOT, config),
                       charts=addon_charts(loaded, ROOT, config))

cluster = Cluster(stack.team, args.cluster)
addons = AddonBundle(f"{stack.team}-addons", args.addons, provider=cluster.provider)
tenancy = TeamTenancy(f"{stack.team}-tenancy", args.tenancy, provider=cluster.provider)

pulumi.export("cluster", cluster.name)
pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export("addons", {a.name: a.version for a in args.addons.addons})
pulumi.export("namespaces", sorted(tenancy.namespaces))
pulumi.export(COST_OUTPUT, loaded.cost.as_json())
# What `validate` and `upgrade plan` read as "the version last applied" (shipyard/upgrades.py).
pulumi.export(KUBERNETES_VERSION_OUTPUT, stack.cluster.kubernetes_version)
