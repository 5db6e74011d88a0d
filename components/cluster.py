"""Cluster: where a stack's Kubernetes objects go, and the provider that puts them there.

`eks` builds the whole AWS side (VPC across >= 2 zones, NAT, IAM, EKS, managed node
groups, OIDC provider for workload IAM roles). `local` and `existing` wrap a kubeconfig.
Either way the component exposes `kubeconfig` (always a secret) and `provider`.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s

from components._common import canonical, cloud_tags

# Root CA of the EKS OIDC issuers (AWS no longer checks it for EKS, but the API still wants one).
EKS_OIDC_THUMBPRINT = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"
CLUSTER_POLICIES = ("arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",)
NODE_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
)


@dataclass(frozen=True)
class NodeGroupArgs:
    name: str
    instance_type: str
    min_size: int
    desired_size: int
    max_size: int
    disk_size_gib: int = 50
    capacity_type: str = "ON_DEMAND"
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EksArgs:
    region: str
    kubernetes_version: str
    node_groups: tuple[NodeGroupArgs, ...]
    availability_zones: int = 3
    vpc_cidr: str = "10.0.0.0/16"
    public_endpoint: bool = False
    nat_per_zone: bool = False
    """One NAT gateway per zone (survives a zone outage) instead of one shared NAT (cheaper)."""

    def __post_init__(self) -> None:
        if self.availability_zones < 2:
            raise ValueError("an EKS cluster needs at least two availability zones")
        if not self.node_groups:
            raise ValueError("an EKS cluster needs at least one node group")


@dataclass(frozen=True)
class ClusterArgs:
    team: str
    environment: str
    provider: Literal["eks", "local", "existing"]
    tags: Mapping[str, str] = field(default_factory=dict)
    eks: EksArgs | None = None
    kubeconfig: pulumi.Input[str] | None = None
    """For `local` and `existing`: the kubeconfig (made secret here whatever the caller passed)."""
    protect: bool = False

    def __post_init__(self) -> None:
        if self.provider == "eks" and self.eks is None:
            raise ValueError("provider 'eks' needs eks arguments")
        if self.provider != "eks" and self.kubeconfig is None:
            raise ValueError(f"provider '{self.provider}' needs a kubeconfig")

    @property
    def cluster_name(self) -> str:
        return f"{self.team}-{self.environment}"


def subnet_cidrs(vpc_cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """Public and private subnets per zone: the VPC split in 16, publics from the start, privates from the
    middle, so adding a zone later never renumbers an existing subnet."""
    blocks = list(ipaddress.IPv4Network(vpc_cidr).subnets(prefixlen_diff=4))
    return [str(b) for b in blocks[:zones]], [str(b) for b in blocks[8:8 + zones]]


class Cluster(pulumi.ComponentResource):
    """A Kubernetes cluster and an explicit provider for it."""

    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    name: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str] | None

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("shipyard:cluster:Cluster", name, None, opts)
        self.oidc_provider_arn = None
        if args.provider == "eks":
            self._eks(name, args)
        else:
            self.name = pulumi.Output.from_input(args.cluster_name)
            self.kubeconfig = pulumi.Output.secret(args.kubeconfig)
        self.provider = k8s.Provider(
            f"{name}-k8s", kubeconfig=self.kubeconfig,
            # Server-side apply: field ownership keeps out-of-band edits from being silently merged.
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"name": self.name, "kubeconfig": self.kubeconfig,
                               "oidcProviderArn": self.oidc_provider_arn})

    def _eks(self, name: str, args: ClusterArgs) -> None:
        import pulumi_aws as aws  # imported only for eks: it is the slowest import of the program

        eks = args.eks
        assert eks is not None
        tags = cloud_tags(args.team, args.environment, args.tags)

        def tagged(role: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
            return canonical({**tags, "Name": f"{args.cluster_name}-{role}", **(extra or {})})

        aws_provider = aws.Provider(f"{name}-aws", region=eks.region,
                                    default_tags=aws.ProviderDefaultTagsArgs(tags=tags),
                                    opts=pulumi.ResourceOptions(parent=self))
        child = pulumi.ResourceOptions(parent=self, provider=aws_provider)
        keep = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.protect))

        # -- network ------------------------------------------------------------------------------
        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=eks.vpc_cidr, enable_dns_hostnames=True,
                          enable_dns_support=True, tags=tagged("vpc"), opts=keep)
        zones = aws.get_availability_zones_output(state="available",
                                                  opts=pulumi.InvokeOutputOptions(provider=aws_provider))
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tagged("igw"), opts=child)
        public_rt = aws.ec2.RouteTable(f"{name}-public-rt", vpc_id=vpc.id,
                                       routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0",
                                                                           gateway_id=igw.id)],
                                       tags=tagged("public-rt"), opts=child)
        public_cidrs, private_cidrs = subnet_cidrs(eks.vpc_cidr, eks.availability_zones)
        elb_tag = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}
        public_subnets, private_subnets, nats = [], [], []
        for index in range(eks.availability_zones):
            zone = zones.names.apply(lambda names, i=index: names[i])
            public = aws.ec2.Subnet(
                f"{name}-public-{index}", vpc_id=vpc.id, cidr_block=public_cidrs[index], availability_zone=zone,
                map_public_ip_on_launch=True,
                tags=tagged(f"public-{index}", {**elb_tag, "kubernetes.io/role/elb": "1"}), opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-public-{index}-rta", subnet_id=public.id,
                                          route_table_id=public_rt.id, opts=child)
            public_subnets.append(public)
            if index == 0 or eks.nat_per_zone:
                eip = aws.ec2.Eip(f"{name}-nat-{index}-eip", domain="vpc", tags=tagged(f"nat-{index}"),
                                  opts=child)
                nats.append(aws.ec2.NatGateway(f"{name}-nat-{index}", allocation_id=eip.id, subnet_id=public.id,
                                               tags=tagged(f"nat-{index}"),
                                               opts=pulumi.ResourceOptions.merge(
                                                   child, pulumi.ResourceOptions(depends_on=[igw]))))
            private = aws.ec2.Subnet(
                f"{name}-private-{index}", vpc_id=vpc.id, cidr_block=private_cidrs[index], availability_zone=zone,
                tags=tagged(f"private-{index}", {**elb_tag, "kubernetes.io/role/internal-elb": "1"}), opts=child)
            private_rt = aws.ec2.RouteTable(
                f"{name}-private-{index}-rt", vpc_id=vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nats[-1].id)],
                tags=tagged(f"private-{index}-rt"), opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-private-{index}-rta", subnet_id=private.id,
                                          route_table_id=private_rt.id, opts=child)
            private_subnets.append(private)

        # -- IAM ----------------------------------------------------------------------------------
        def role(role_name: str, service: str, policies: tuple[str, ...]) -> tuple[aws.iam.Role, list]:
            assume = json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]},
                sort_keys=True)
            iam_role = aws.iam.Role(f"{name}-{role_name}-role", assume_role_policy=assume,
                                    tags=tagged(f"{role_name}-role"), opts=child)
            attachments = [aws.iam.RolePolicyAttachment(f"{name}-{role_name}-{arn.rsplit('/', 1)[-1]}",
                                                        role=iam_role.name, policy_arn=arn, opts=child)
                           for arn in policies]
            return iam_role, attachments

        cluster_role, cluster_attachments = role("cluster", "eks.amazonaws.com", CLUSTER_POLICIES)
        node_role, node_attachments = role("node", "ec2.amazonaws.com", NODE_POLICIES)

        # -- control plane and nodes --------------------------------------------------------------
        cluster = aws.eks.Cluster(
            f"{name}-eks", name=args.cluster_name, role_arn=cluster_role.arn, version=eks.kubernetes_version,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=[s.id for s in private_subnets + public_subnets],
                endpoint_private_access=True, endpoint_public_access=eks.public_endpoint),
            access_config=aws.eks.ClusterAccessConfigArgs(authentication_mode="API_AND_CONFIG_MAP"),
            enabled_cluster_log_types=["api", "audit", "authenticator"],
            tags=tagged("eks"),
            opts=pulumi.ResourceOptions.merge(keep, pulumi.ResourceOptions(depends_on=cluster_attachments)))
        for group in eks.node_groups:
            aws.eks.NodeGroup(
                f"{name}-ng-{group.name}", cluster_name=cluster.name, node_group_name=group.name,
                node_role_arn=node_role.arn, subnet_ids=[s.id for s in private_subnets],
                instance_types=[group.instance_type], capacity_type=group.capacity_type,
                disk_size=group.disk_size_gib, labels=canonical(dict(group.labels)),
                scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                    min_size=group.min_size, desired_size=group.desired_size, max_size=group.max_size),
                tags=tagged(f"ng-{group.name}"),
                opts=pulumi.ResourceOptions.merge(keep, pulumi.ResourceOptions(
                    depends_on=node_attachments,
                    # The cluster autoscaler owns the live size; desiredSize is only the starting point.
                    ignore_changes=["scalingConfig.desiredSize"])))
        oidc = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc", url=cluster.identities[0].oidcs[0].issuer, client_id_lists=["sts.amazonaws.com"],
            thumbprint_lists=[EKS_OIDC_THUMBPRINT], tags=tagged("oidc"), opts=child)

        self.name = cluster.name
        self.oidc_provider_arn = oidc.arn
        self.kubeconfig = pulumi.Output.secret(pulumi.Output.all(
            cluster.name, cluster.endpoint, cluster.certificate_authority.data).apply(
            lambda parts: _eks_kubeconfig(parts[0], parts[1], parts[2], eks.region)))


def _eks_kubeconfig(cluster_name: str, endpoint: str, ca_data: str, region: str) -> str:
    """A kubeconfig that authenticates with `aws eks get-token` (no long-lived credential inside)."""
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": cluster_name,
        "clusters": [{"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "users": [{"name": cluster_name, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region]}}}],
    }, sort_keys=True)
