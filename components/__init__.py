"""The platform team's Pulumi components. One module per component; `platform` maps a stack file onto them."""

from components.addons import AddonBundle, AddonBundleArgs, AddonSpec
from components.cluster import Cluster, ClusterArgs, EksArgs, NodeGroupArgs
from components.tenancy import NamespaceSpec, TeamTenancy, TeamTenancyArgs

__all__ = ["AddonBundle", "AddonBundleArgs", "AddonSpec", "Cluster", "ClusterArgs", "EksArgs", "NamespaceSpec",
           "NodeGroupArgs", "TeamTenancy", "TeamTenancyArgs"]
