import dataclasses
import json
from pathlib import Path

import pytest

from components.cluster import (CLUSTER_ADMIN_POLICY, PREVIEW_GROUP, AccessArgs, Cluster, ClusterArgs, EksArgs,
                                IamStatement, NodeGroupArgs, WorkloadIdentityArgs, subnet_cidrs)
from components.platform import args_from_stack
from shipyard.repo import Repo
from shipyard.validation import check_stack, load_catalog

REPO = Path(__file__).resolve().parents[2]
PINS = load_catalog(REPO).catalog.core_addons
APPLY = "arn:aws:iam::222222222222:role/shipyard-apply"
PREVIEW = "arn:aws:iam::222222222222:role/shipyard-preview"
LEADS = "arn:aws:iam::222222222222:role/ledger-leads"
DEVS = "arn:aws:iam::222222222222:role/ledger-devs"
ACCESS = AccessArgs(admin_role_arn=APPLY, preview_role_arn=PREVIEW,
                    groups={"ledger-leads": (LEADS,), "ledger-devs": (DEVS, LEADS)})
EKS = EksArgs(region="eu-west-1", kubernetes_version="1.33", availability_zones=3, access=ACCESS,
              core_addons=PINS.for_version("1.33"),
              node_groups=(NodeGroupArgs(name="general", instance_type="m6i.large", min_size=2, desired_size=3,
                                         max_size=6),))
EXTERNAL_DNS = WorkloadIdentityArgs(
    addon="external-dns", namespace="external-dns", service_account="external-dns", hosted_zones=("ledger.example.com",),
    statements=(IamStatement({"Sid": "Records", "Effect": "Allow", "Action": ["route53:ChangeResourceRecordSets"]},
                             zone_scoped=True),
                IamStatement({"Sid": "List", "Effect": "Allow", "Action": ["route53:ListHostedZones"],
                              "Resource": ["*"]})))


def _eks(eks=EKS, **overrides):
    args = ClusterArgs(team="ledger", environment="prod", provider="eks", tags={"costCenter": "cc-4411"},
                       eks=eks, **overrides)
    Cluster("ledger", args)


def _with(**changes):
    return lambda: _eks(dataclasses.replace(EKS, **changes))


def _urn(rec, type_):
    [found] = rec.of_type(type_)
    return found.urn


def test_eks_builds_network_iam_cluster_nodes_and_oidc(build):
    rec = build(_eks)
    types = [r.type for r in rec]
    assert types.count("aws:ec2/subnet:Subnet") == 6  # public + private in each of 3 zones
    for expected in ("aws:ec2/vpc:Vpc", "aws:ec2/natGateway:NatGateway", "aws:ec2/internetGateway:InternetGateway",
                     "aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup",
                     "aws:iam/openIdConnectProvider:OpenIdConnectProvider", "pulumi:providers:kubernetes"):
        assert expected in types
    assert types.count("aws:iam/role:Role") == 2  # control plane and nodes; add-on roles only with identities
    zones = {r.inputs["availabilityZone"] for r in rec.of_type("aws:ec2/subnet:Subnet")}
    assert len(zones) == 3


def test_every_taggable_aws_resource_carries_platform_and_team_tags(build):
    rec = build(lambda: _eks(dataclasses.replace(EKS, identities=(EXTERNAL_DNS,))))
    tagged = [r for r in rec if r.type.startswith("aws:") and r.custom and "tags" in r.inputs]
    assert len(tagged) >= 15
    for resource in tagged:
        tags = resource.inputs["tags"]
        assert tags["team"] == "ledger" and tags["environment"] == "prod", resource.name
        assert tags["managed-by"] == "shipyard" and tags["costCenter"] == "cc-4411", resource.name
    untaggable = {"aws:ec2/routeTableAssociation:RouteTableAssociation",
                  "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "aws:iam/rolePolicy:RolePolicy",
                  "aws:eks/accessEntry:AccessEntry", "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
                  "aws:eks/addon:Addon", "pulumi:providers:aws", "pulumi:providers:kubernetes"}
    assert {r.type for r in rec if r.custom and r.type.startswith(("aws:", "pulumi:")) and "tags" not in r.inputs} \
        <= untaggable


def test_every_child_is_parented_to_the_component(build):
    rec = build(_eks)
    component = rec.named("ledger")
    assert component.type == "shipyard:cluster:Cluster"
    assert all(r.parent == component.urn for r in rec if r is not component)


def test_node_group_follows_the_control_plane_version_after_it(build):
    rec = build(_eks)
    [group] = rec.of_type("aws:eks/nodeGroup:NodeGroup")
    eks = rec.of_type("aws:eks/cluster:Cluster")[0]
    assert eks.inputs["version"] == "1.33" and eks.inputs["name"] == "ledger-prod"
    assert group.inputs["version"] == "1.33"
    assert group.inputs["scalingConfig"] == {"desiredSize": 3, "maxSize": 6, "minSize": 2}
    assert group.inputs["instanceTypes"] == ["m6i.large"]
    assert eks.inputs["vpcConfig"]["endpointPublicAccess"] is False
    # one update: the control plane, then the node add-ons, then the nodes
    early = {r.urn for r in rec.of_type("aws:eks/addon:Addon") if r.inputs["addonName"] != "coredns"}
    assert eks.urn in group.dependencies and early <= set(group.dependencies)
    upgraded = build(_with(kubernetes_version="1.34", core_addons=PINS.for_version("1.34")))
    assert upgraded.of_type("aws:eks/nodeGroup:NodeGroup")[0].inputs["version"] == "1.34"
    assert upgraded.of_type("aws:eks/cluster:Cluster")[0].inputs["version"] == "1.34"


@pytest.mark.parametrize("minor", ["1.33", "1.34", "1.35", "1.36"])
def test_core_addons_are_pinned_per_kubernetes_minor(build, minor):
    rec = build(_with(kubernetes_version=minor, core_addons=PINS.for_version(minor)))
    addons = {r.inputs["addonName"]: r for r in rec.of_type("aws:eks/addon:Addon")}
    assert {name: r.inputs["addonVersion"] for name, r in addons.items()} == PINS.versions[minor]
    assert set(addons) == {"vpc-cni", "kube-proxy", "eks-pod-identity-agent", "coredns"}
    cluster = _urn(rec, "aws:eks/cluster:Cluster")
    for addon in addons.values():
        assert cluster in addon.dependencies
        assert addon.inputs["resolveConflictsOnCreate"] == "OVERWRITE"
    # kube-proxy follows the minor; CoreDNS needs nodes, so it comes after the node groups
    assert addons["kube-proxy"].inputs["addonVersion"].startswith(f"v{minor}.")
    assert _urn(rec, "aws:eks/nodeGroup:NodeGroup") in addons["coredns"].dependencies


def test_core_addon_versions_differ_between_minors_where_the_table_says():
    assert PINS.for_version("1.33")["kube-proxy"] != PINS.for_version("1.34")["kube-proxy"]


def test_node_groups_are_replaced_create_before_delete(build):
    rec = build(_eks)
    [group] = rec.of_type("aws:eks/nodeGroup:NodeGroup")
    # a prefix, not a fixed name: the replacement gets a name of its own, so it can exist next to the old group
    assert group.inputs["nodeGroupNamePrefix"] == "general-" and "nodeGroupName" not in group.inputs
    assert group.delete_before_replace is False


def test_desired_size_is_managed_until_an_autoscaler_owns_it(build):
    [managed] = build(_eks).of_type("aws:eks/nodeGroup:NodeGroup")
    assert managed.ignore_changes == []
    scaled = NodeGroupArgs(name="general", instance_type="m6i.large", min_size=4, desired_size=3, max_size=6,
                           autoscaled=True)
    [group] = build(_with(node_groups=(scaled,))).of_type("aws:eks/nodeGroup:NodeGroup")
    assert group.ignore_changes == ["scalingConfig.desiredSize"]
    assert group.inputs["scalingConfig"]["desiredSize"] == 4  # never starts below minSize
    assert group.inputs["tags"]["k8s.io/cluster-autoscaler/enabled"] == "true"
    assert group.inputs["tags"]["k8s.io/cluster-autoscaler/ledger-prod"] == "owned"


def test_new_clusters_authenticate_through_access_entries_only(build):
    rec = build(_eks)
    [cluster] = rec.of_type("aws:eks/cluster:Cluster")
    assert cluster.inputs["accessConfig"] == {"authenticationMode": "API",
                                              "bootstrapClusterCreatorAdminPermissions": False}
    # an existing cluster keeps its mode: AWS changes it one way only, and the creator flag by replacement
    assert cluster.ignore_changes == ["accessConfig"]


def test_access_entries_map_groups_and_make_the_apply_role_the_one_admin(build):
    rec = build(_eks)
    entries = {r.inputs["principalArn"]: r for r in rec.of_type("aws:eks/accessEntry:AccessEntry")}
    assert set(entries) == {APPLY, PREVIEW, LEADS, DEVS}  # one per principal, whatever the groups
    assert entries[LEADS].inputs["kubernetesGroups"] == ["ledger-devs", "ledger-leads"]
    assert entries[DEVS].inputs["kubernetesGroups"] == ["ledger-devs"]
    assert entries[PREVIEW].inputs["kubernetesGroups"] == [PREVIEW_GROUP]
    assert "kubernetesGroups" not in entries[APPLY].inputs or entries[APPLY].inputs["kubernetesGroups"] == []
    assert all(e.inputs["type"] == "STANDARD" for e in entries.values())
    [admin] = rec.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert admin.inputs["principalArn"] == APPLY and admin.inputs["policyArn"] == CLUSTER_ADMIN_POLICY
    assert admin.inputs["accessScope"] == {"type": "cluster"}
    # the Kubernetes provider's kubeconfig waits for that grant
    [provider] = rec.of_type("pulumi:providers:kubernetes")
    assert admin.urn in provider.dependencies
    assert not any(g.startswith("system:") for e in entries.values() for g in e.inputs.get("kubernetesGroups", []))


def test_preview_role_may_read_everything_and_nothing_more(build):
    rec = build(_eks)
    [role] = rec.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")
    assert role.inputs["metadata"]["name"] == PREVIEW_GROUP
    assert role.inputs["rules"] == [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}]
    [binding] = rec.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")
    assert binding.inputs["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                                           "name": PREVIEW_GROUP}]
    without = build(_with(access=AccessArgs(admin_role_arn=APPLY)))
    assert not without.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")
    assert len(without.of_type("aws:eks/accessEntry:AccessEntry")) == 1


def test_system_groups_are_refused_before_any_resource():
    with pytest.raises(ValueError, match="system:masters is cluster admin"):
        AccessArgs(admin_role_arn=APPLY, groups={"system:masters": (LEADS,)})


def test_each_addon_gets_one_role_trusted_only_for_its_service_account(build):
    rec = build(_with(identities=(EXTERNAL_DNS,)))
    roles = [r for r in rec.of_type("aws:iam/role:Role") if r.name.endswith("-identity")]
    assert [r.name for r in roles] == ["ledger-external-dns-identity"]
    trust = json.loads(roles[0].inputs["assumeRolePolicy"])
    [statement] = trust["Statement"]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert statement["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    assert statement["Condition"]["StringEquals"] == {
        "aws:RequestTag/eks-cluster-arn": "arn:aws:eks:offline-region:000000000000:cluster/offline",
        "aws:RequestTag/kubernetes-namespace": "external-dns",
        "aws:RequestTag/kubernetes-service-account": "external-dns"}
    [policy] = rec.of_type("aws:iam/rolePolicy:RolePolicy")
    document = json.loads(policy.inputs["policy"])
    records, listing = document["Statement"]
    assert records["Resource"] == ["arn:aws:route53:::hostedzone/OFFLINELEDGEREXAMPLECOM"]  # the stack's zone only
    assert listing["Resource"] == ["*"] and listing["Action"] == ["route53:ListHostedZones"]
    [association] = rec.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert association.inputs["namespace"] == "external-dns"
    assert association.inputs["serviceAccount"] == "external-dns"
    agent = next(r for r in rec.of_type("aws:eks/addon:Addon") if r.inputs["addonName"] == "eks-pod-identity-agent")
    assert agent.urn in association.dependencies and roles[0].urn in association.dependencies


def test_wildcard_actions_and_identities_without_the_agent_are_refused():
    with pytest.raises(ValueError, match="wildcard"):
        WorkloadIdentityArgs(addon="x", namespace="x", service_account="x",
                             statements=(IamStatement({"Action": ["route53:*"], "Resource": ["*"]}),))
    with pytest.raises(ValueError, match="eks-pod-identity-agent"):
        dataclasses.replace(EKS, core_addons={}, identities=(EXTERNAL_DNS,))


def test_autoscaler_identity_from_the_catalog_template_scales_only_this_clusters_groups(build, platform_repo):
    """The cluster-autoscaler's identity is in the catalog, awaiting its chart: built here as it will be once the
    add-on exists (a stack that gets it)."""
    catalog = load_catalog(REPO).catalog
    template = catalog.identities["cluster-autoscaler"]
    identity = WorkloadIdentityArgs(
        addon="cluster-autoscaler", namespace=catalog.identity_namespace("cluster-autoscaler"),
        service_account=template.service_account,
        statements=tuple(IamStatement(s.rendered("ledger-prod"), zone_scoped=s.zone_scoped)
                         for s in template.statements))
    rec = build(_with(identities=(identity,)))
    [policy] = rec.of_type("aws:iam/rolePolicy:RolePolicy")
    scale, discover = json.loads(policy.inputs["policy"])["Statement"]
    assert scale["Condition"] == {"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/ledger-prod": "owned"}}
    assert "autoscaling:SetDesiredCapacity" in scale["Action"]
    assert "eks:DescribeNodegroup" in discover["Action"]
    assert not any("*" in action for s in (scale, discover) for action in s["Action"])
    [association] = rec.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert association.inputs["namespace"] == "cluster-autoscaler"
    assert association.inputs["serviceAccount"] == "cluster-autoscaler"


def test_stack_file_maps_access_zones_and_identities(build):
    repo = Repo(REPO)
    checked = check_stack(REPO, repo.stack("ledger-prod").path, repo.local_kubernetes_minor)
    charts = {name: f".charts/{name}.tgz" for name in checked.catalog.addons}
    args = args_from_stack(checked.stack, checked.catalog, checked.policy.policy, kubeconfig=None, charts=charts)
    eks = args.cluster.eks
    assert eks.access.admin_role_arn == "arn:aws:iam::222222222222:role/shipyard-apply"
    assert eks.access.groups == {"ledger-leads": ("arn:aws:iam::222222222222:role/ledger-leads",),
                                 "ledger-devs": ("arn:aws:iam::222222222222:role/ledger-devs",)}
    assert [i.addon for i in eks.identities] == ["cert-manager", "external-dns"]  # not the awaiting autoscaler
    assert all(i.hosted_zones == ("ledger.example.com",) for i in eks.identities)
    assert eks.core_addons == PINS.for_version("1.33")
    assert not any(g.autoscaled for g in eks.node_groups)  # no autoscaler add-on: desiredSize is managed
    dns = next(a for a in args.addons.addons if a.name == "external-dns")
    assert dns.values["domainFilters"] == ["ledger.example.com"]


def test_prod_protects_cluster_and_node_groups(build):
    rec = build(lambda: _eks(protect=True))
    assert rec.of_type("aws:eks/cluster:Cluster")[0].protect
    assert rec.of_type("aws:eks/nodeGroup:NodeGroup")[0].protect
    assert not build(_eks).of_type("aws:eks/cluster:Cluster")[0].protect


def test_kubeconfig_is_a_secret_and_feeds_the_provider(build):
    rec = build(_eks)
    [provider] = rec.of_type("pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == "[secret]"


def test_local_cluster_wraps_the_kubeconfig_as_secret(build):
    rec = build(lambda: Cluster("sandbox", ClusterArgs(team="sandbox", environment="dev", provider="local",
                                                        kubeconfig="apiVersion: v1")))
    assert [r.type for r in rec] == ["shipyard:cluster:Cluster", "pulumi:providers:kubernetes"]
    assert rec[1].inputs["kubeconfig"] == "[secret]"


def test_subnets_never_renumber_when_a_zone_is_added():
    public2, private2 = subnet_cidrs("10.0.0.0/16", 2)
    public3, private3 = subnet_cidrs("10.0.0.0/16", 3)
    assert public3[:2] == public2 and private3[:2] == private2
    assert not set(public3) & set(private3)


def test_arguments_are_checked_before_any_resource():
    with pytest.raises(ValueError, match="at least two availability zones"):
        dataclasses.replace(EKS, availability_zones=1)
    with pytest.raises(ValueError, match="needs a kubeconfig"):
        ClusterArgs(team="a", environment="dev", provider="existing")
