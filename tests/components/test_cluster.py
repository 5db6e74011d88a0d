import pulumi
import pytest

from components.cluster import Cluster, ClusterArgs, EksArgs, NodeGroupArgs, subnet_cidrs

EKS = EksArgs(region="eu-west-1", kubernetes_version="1.33", availability_zones=3,
              node_groups=(NodeGroupArgs(name="general", instance_type="m6i.large", min_size=2, desired_size=3,
                                         max_size=6),))


def _eks(**overrides):
    args = ClusterArgs(team="ledger", environment="prod", provider="eks", tags={"costCenter": "cc-4411"},
                       eks=EKS, **overrides)
    Cluster("ledger", args)


def test_eks_builds_network_iam_cluster_nodes_and_oidc(build):
    rec = build(_eks)
    types = [r.type for r in rec]
    assert types.count("aws:ec2/subnet:Subnet") == 6  # public + private in each of 3 zones
    for expected in ("aws:ec2/vpc:Vpc", "aws:ec2/natGateway:NatGateway", "aws:ec2/internetGateway:InternetGateway",
                     "aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup",
                     "aws:iam/openIdConnectProvider:OpenIdConnectProvider", "pulumi:providers:kubernetes"):
        assert expected in types
    assert types.count("aws:iam/role:Role") == 2
    zones = {r.inputs["availabilityZone"] for r in rec.of_type("aws:ec2/subnet:Subnet")}
    assert len(zones) == 3


def test_every_taggable_aws_resource_carries_platform_and_team_tags(build):
    rec = build(_eks)
    tagged = [r for r in rec if r.type.startswith("aws:") and r.custom and "tags" in r.inputs]
    assert len(tagged) >= 15
    for resource in tagged:
        tags = resource.inputs["tags"]
        assert tags["team"] == "ledger" and tags["environment"] == "prod", resource.name
        assert tags["managed-by"] == "shipyard" and tags["costCenter"] == "cc-4411", resource.name
    untaggable = {"aws:ec2/routeTableAssociation:RouteTableAssociation",
                  "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "pulumi:providers:aws",
                  "pulumi:providers:kubernetes"}
    assert {r.type for r in rec if r.custom and "tags" not in r.inputs} <= untaggable


def test_every_child_is_parented_to_the_component(build):
    rec = build(_eks)
    component = rec.named("ledger")
    assert component.type == "shipyard:cluster:Cluster"
    assert all(r.parent == component.urn for r in rec if r is not component)


def test_node_group_is_pinned_and_autoscaler_owns_live_size(build):
    rec = build(_eks)
    [group] = rec.of_type("aws:eks/nodeGroup:NodeGroup")
    assert group.inputs["scalingConfig"] == {"desiredSize": 3, "maxSize": 6, "minSize": 2}
    assert group.inputs["instanceTypes"] == ["m6i.large"]
    eks = rec.of_type("aws:eks/cluster:Cluster")[0]
    assert eks.inputs["version"] == "1.33" and eks.inputs["name"] == "ledger-prod"
    assert eks.inputs["vpcConfig"]["endpointPublicAccess"] is False


def test_kubeconfig_is_a_secret_and_feeds_the_provider(build):
    rec = build(_eks)
    [provider] = rec.of_type("pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == "[secret]"


def test_prod_protects_cluster_and_node_groups(build):
    rec = build(lambda: _eks(protect=True))
    assert rec.of_type("aws:eks/cluster:Cluster")[0].protect
    assert rec.of_type("aws:eks/nodeGroup:NodeGroup")[0].protect
    assert not build(_eks).of_type("aws:eks/cluster:Cluster")[0].protect


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
        EksArgs(region="eu-west-1", kubernetes_version="1.33", availability_zones=1, node_groups=EKS.node_groups)
    with pytest.raises(ValueError, match="needs a kubeconfig"):
        ClusterArgs(team="a", environment="dev", provider="existing")
