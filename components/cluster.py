"""Cluster: where a stack's Kubernetes objects go, and the provider that puts them there.

`eks` builds the whole AWS side: VPC across >= 2 zones, NAT, IAM, the EKS control plane with access entries
(the CI apply identity is cluster admin; the stack's groups map to IAM roles), the EKS core add-ons pinned
per Kubernetes minor, managed node groups following the control plane's version, one IAM role per add-on
through EKS Pod Identity, and the OIDC provider. `local` and `existing` wrap a kubeconfig. Either way the
component exposes `kubeconfig` (always a secret) and `provider`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from components._common import canonical, cloud_tags, shipyard_labels

# Root CA of the EKS OIDC issuers (AWS no longer checks it for EKS, but the API still wants one).
EKS_OIDC_THUMBPRINT = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"
CLUSTER_POLICIES = ("arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",)
NODE_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
)
CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
PREVIEW_GROUP = "shipyard-preview"
"""The Kubernetes group of the read-only CI identity (a ClusterRole of the same name: get, list, watch)."""
POD_IDENTITY_AGENT = "eks-pod-identity-agent"
CORE_ADDON_ORDER = ("vpc-cni", "kube-proxy", POD_IDENTITY_AGENT, "coredns")
NODE_ADDONS = ("coredns",)
"""Core add-ons that run as Deployments and only become ready on nodes: created after the node groups."""


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
    autoscaled: bool = False
    """An autoscaler owns the live size: `desired_size` is only where a new (or replacement) group starts."""

    @property
    def starting_size(self) -> int:
        """The size a new group starts at: never below `min_size` (AWS refuses that)."""
        return min(max(self.desired_size, self.min_size), self.max_size)


@dataclass(frozen=True)
class AccessArgs:
    """Who may use the cluster, through EKS access entries (authentication mode `API`)."""

    admin_role_arn: str
    """The CI apply identity: the one principal with `AmazonEKSClusterAdminPolicy`."""
    preview_role_arn: str | None = None
    """The read-only CI identity: in the `shipyard-preview` group, which may get, list and watch everything."""
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Kubernetes group -> the IAM role ARNs put in it (the namespaces' RoleBindings give the groups rights)."""

    def __post_init__(self) -> None:
        for group in self.groups:
            if group.startswith("system:"):
                raise ValueError(f"access group '{group}': Kubernetes 'system:' groups (system:masters is cluster "
                                 "admin) are never mapped; use a group a namespace binds")

    def principals(self) -> dict[str, tuple[str, ...]]:
        """Principal ARN -> its sorted Kubernetes groups: EKS allows one access entry per principal."""
        by_arn: dict[str, set[str]] = {self.admin_role_arn: set()}
        if self.preview_role_arn:
            by_arn.setdefault(self.preview_role_arn, set()).add(PREVIEW_GROUP)
        for group, arns in self.groups.items():
            for arn in arns:
                by_arn.setdefault(arn, set()).add(group)
        return {arn: tuple(sorted(groups)) for arn, groups in sorted(by_arn.items())}


@dataclass(frozen=True)
class IamStatement:
    """One statement of an add-on's permissions, rendered for this cluster."""

    statement: Mapping[str, Any]
    """The IAM statement (Sid, Effect, Action, Condition...), with `Resource` unless `zone_scoped`."""
    zone_scoped: bool = False
    """Its resources are the ARNs of the stack's hosted zones (looked up by name)."""


@dataclass(frozen=True)
class WorkloadIdentityArgs:
    """An add-on's AWS role: assumable only by its service account, through EKS Pod Identity."""

    addon: str
    namespace: str
    service_account: str
    statements: tuple[IamStatement, ...]
    hosted_zones: tuple[str, ...] = ()
    """The public zones (by name) zone-scoped statements act on."""

    def __post_init__(self) -> None:
        for item in self.statements:
            actions = item.statement.get("Action", ())
            for action in [actions] if isinstance(actions, str) else actions:
                if "*" in action or "?" in action:
                    raise ValueError(f"identity of '{self.addon}': action '{action}' is a wildcard; name each action")
            if item.zone_scoped and not self.hosted_zones:
                raise ValueError(f"identity of '{self.addon}': statement {item.statement.get('Sid')} acts on the "
                                 "stack's hosted zones, but none are given")


@dataclass(frozen=True)
class EksArgs:
    region: str
    kubernetes_version: str
    node_groups: tuple[NodeGroupArgs, ...]
    access: AccessArgs
    availability_zones: int = 3
    vpc_cidr: str = "10.0.0.0/16"
    public_endpoint: bool = False
    nat_per_zone: bool = False
    """One NAT gateway per zone (survives a zone outage) instead of one shared NAT (cheaper)."""
    core_addons: Mapping[str, str] = field(default_factory=dict)
    """EKS core add-on -> its pinned version for `kubernetes_version` (addons/eks-core.yaml)."""
    identities: tuple[WorkloadIdentityArgs, ...] = ()

    def __post_init__(self) -> None:
        if self.availability_zones < 2:
            raise ValueError("an EKS cluster needs at least two availability zones")
        if not self.node_groups:
            raise ValueError("an EKS cluster needs at least one node group")
        unknown = sorted(set(self.core_addons) - set(CORE_ADDON_ORDER))
        if unknown:
            raise ValueError(f"unknown EKS core add-on(s) {', '.join(unknown)}; known: {', '.join(CORE_ADDON_ORDER)}")
        if self.identities and POD_IDENTITY_AGENT not in self.core_addons:
            raise ValueError(f"workload identities need the {POD_IDENTITY_AGENT} core add-on (EKS Pod Identity)")
        names = [identity.addon for identity in self.identities]
        if len(names) != len(set(names)):
            raise ValueError("one workload identity per add-on")


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
    """A Kubernetes cluster and an explicit provider for it.

    On `eks` the order of one update is the order of an EKS upgrade: the control plane first, then vpc-cni,
    kube-proxy and the Pod Identity agent, then the node groups (rolled to the new version), then CoreDNS
    (which needs nodes). Node groups that must be replaced are created before the old one is deleted."""

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
        if args.eks is not None and args.eks.access.preview_role_arn:
            self._preview_rbac(name, args)
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

        # -- control plane ------------------------------------------------------------------------
        cluster = aws.eks.Cluster(
            f"{name}-eks", name=args.cluster_name, role_arn=cluster_role.arn, version=eks.kubernetes_version,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=[s.id for s in private_subnets + public_subnets],
                endpoint_private_access=True, endpoint_public_access=eks.public_endpoint),
            # Access entries only (no aws-auth ConfigMap), and nobody is admin by having created the cluster:
            # the CI apply identity gets its own access entry below.
            access_config=aws.eks.ClusterAccessConfigArgs(authentication_mode="API",
                                                          bootstrap_cluster_creator_admin_permissions=False),
            enabled_cluster_log_types=["api", "audit", "authenticator"],
            tags=tagged("eks"),
            opts=pulumi.ResourceOptions.merge(keep, pulumi.ResourceOptions(
                depends_on=cluster_attachments,
                # For new clusters only. On a cluster created before, AWS changes the authentication mode one
                # way only (CONFIG_MAP -> API_AND_CONFIG_MAP -> API) and the creator flag only by replacing the
                # cluster: both are left as they are (README, "Access").
                ignore_changes=["accessConfig"])))

        admin = self._access(name, eks.access, cluster, child)

        # -- core add-ons, nodes ------------------------------------------------------------------
        addons = {addon: self._core_addon(name, addon, version, cluster, child)
                  for addon, version in _ordered(eks.core_addons).items() if addon not in NODE_ADDONS}
        groups = [self._node_group(name, args, group, cluster, node_role, private_subnets,
                                   [*node_attachments, *addons.values()], keep, tagged)
                  for group in eks.node_groups]
        for addon, version in _ordered(eks.core_addons).items():
            if addon in NODE_ADDONS:
                addons[addon] = self._core_addon(name, addon, version, cluster, child, depends_on=groups)

        # -- workload identities ------------------------------------------------------------------
        zone_arns: dict[str, pulumi.Output[str]] = {}
        for identity in eks.identities:
            for zone in identity.hosted_zones:
                if zone not in zone_arns:
                    zone_arns[zone] = aws.route53.get_zone_output(
                        name=zone, private_zone=False, opts=pulumi.InvokeOutputOptions(provider=aws_provider)).arn
            self._identity(name, identity, cluster, zone_arns, addons[POD_IDENTITY_AGENT], child, tagged)

        oidc = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc", url=cluster.identities[0].oidcs[0].issuer, client_id_lists=["sts.amazonaws.com"],
            thumbprint_lists=[EKS_OIDC_THUMBPRINT], tags=tagged("oidc"), opts=child)

        self.name = cluster.name
        self.oidc_provider_arn = oidc.arn
        # The kubeconfig is usable once the apply identity is cluster admin: everything the Kubernetes provider
        # does waits for that grant.
        self.kubeconfig = pulumi.Output.secret(pulumi.Output.all(
            cluster.name, cluster.endpoint, cluster.certificate_authority.data, admin.id).apply(
            lambda parts: _eks_kubeconfig(parts[0], parts[1], parts[2], eks.region)))

    def _access(self, name: str, access: AccessArgs, cluster: Any, child: pulumi.ResourceOptions) -> Any:
        """One access entry per principal; the apply identity's with the cluster admin policy (returned)."""
        import pulumi_aws as aws

        admin_policy = None
        for arn, groups in access.principals().items():
            entry = aws.eks.AccessEntry(
                f"{name}-access-{principal_slug(arn)}", cluster_name=cluster.name, principal_arn=arn,
                type="STANDARD", kubernetes_groups=list(groups), opts=child)
            if arn == access.admin_role_arn:
                admin_policy = aws.eks.AccessPolicyAssociation(
                    f"{name}-access-admin", cluster_name=cluster.name, principal_arn=entry.principal_arn,
                    policy_arn=CLUSTER_ADMIN_POLICY,
                    access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"), opts=child)
        assert admin_policy is not None
        return admin_policy

    def _core_addon(self, name: str, addon: str, version: str, cluster: Any, child: pulumi.ResourceOptions,
                    depends_on: list[Any] | None = None) -> Any:
        import pulumi_aws as aws

        return aws.eks.Addon(
            f"{name}-addon-{addon}", cluster_name=cluster.name, addon_name=addon, addon_version=version,
            # EKS installs self-managed vpc-cni, kube-proxy and CoreDNS into every new cluster: take them over,
            # and keep them as pinned (a change made out of band is overwritten by the next update).
            resolve_conflicts_on_create="OVERWRITE", resolve_conflicts_on_update="OVERWRITE",
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[cluster, *(depends_on or [])])))

    def _node_group(self, name: str, args: ClusterArgs, group: NodeGroupArgs, cluster: Any, node_role: Any,
                    subnets: list[Any], depends_on: list[Any], keep: pulumi.ResourceOptions,
                    tagged: Any) -> Any:
        import pulumi_aws as aws

        assert args.eks is not None
        discovery = {"k8s.io/cluster-autoscaler/enabled": "true",
                     f"k8s.io/cluster-autoscaler/{args.cluster_name}": "owned"}
        return aws.eks.NodeGroup(
            f"{name}-ng-{group.name}", cluster_name=cluster.name,
            # A prefix, not a fixed name: a group that must be replaced (instance type, disk, capacity type,
            # zones) gets a new name, so the new one is created and ready before the old one is deleted.
            node_group_name_prefix=f"{group.name}-",
            version=args.eks.kubernetes_version,
            node_role_arn=node_role.arn, subnet_ids=[s.id for s in subnets],
            instance_types=[group.instance_type], capacity_type=group.capacity_type,
            disk_size=group.disk_size_gib, labels=canonical(dict(group.labels)),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=group.min_size, desired_size=group.starting_size, max_size=group.max_size),
            tags=tagged(f"ng-{group.name}", discovery),
            opts=pulumi.ResourceOptions.merge(keep, pulumi.ResourceOptions(
                # The control plane (and the node add-ons) first: in one update, nodes follow a new version.
                depends_on=[cluster, *depends_on],
                delete_before_replace=False,
                # With an autoscaler it owns the live size: desiredSize only starts a new group.
                ignore_changes=["scalingConfig.desiredSize"] if group.autoscaled else None)))

    def _identity(self, name: str, identity: WorkloadIdentityArgs, cluster: Any,
                  zone_arns: Mapping[str, pulumi.Output[str]], agent: Any, child: pulumi.ResourceOptions,
                  tagged: Any) -> None:
        """The add-on's role (trusted for this cluster, its namespace and service account only), its
        permissions, and the Pod Identity association that hands it to the service account."""
        import pulumi_aws as aws

        prefix = f"{name}-{identity.addon}-identity"
        trust = cluster.arn.apply(lambda arn: pod_identity_trust(arn, identity.namespace, identity.service_account))
        role = aws.iam.Role(prefix, assume_role_policy=trust, tags=tagged(f"{identity.addon}-identity"),
                            description=f"{identity.addon} pods ({identity.namespace}/{identity.service_account})",
                            opts=child)
        arns = [zone_arns[zone] for zone in identity.hosted_zones]
        policy = pulumi.Output.all(*arns).apply(lambda zones: policy_document(identity.statements, list(zones)))
        aws.iam.RolePolicy(f"{prefix}-policy", role=role.id, policy=policy, opts=child)
        aws.eks.PodIdentityAssociation(
            f"{prefix}-association", cluster_name=cluster.name, namespace=identity.namespace,
            service_account=identity.service_account, role_arn=role.arn, tags=tagged(f"{identity.addon}-identity"),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[agent])))

    def _preview_rbac(self, name: str, args: ClusterArgs) -> None:
        """What the read-only CI identity may do: get, list and watch every object (Secrets and RBAC included:
        previews and drift checks compare them). `AmazonEKSViewPolicy` hides both."""
        child = pulumi.ResourceOptions(parent=self, provider=self.provider)
        labels = shipyard_labels(args.team)
        k8s.rbac.v1.ClusterRole(
            f"{name}-preview-role", metadata={"name": PREVIEW_GROUP, "labels": labels},
            rules=[{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}], opts=child)
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-preview-binding", metadata={"name": PREVIEW_GROUP, "labels": labels},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": PREVIEW_GROUP},
            subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": PREVIEW_GROUP}], opts=child)


def _ordered(core_addons: Mapping[str, str]) -> dict[str, str]:
    return {addon: core_addons[addon] for addon in CORE_ADDON_ORDER if addon in core_addons}


def principal_slug(arn: str) -> str:
    """A stable, readable resource name for a principal: its role name and a short hash of the whole ARN (two
    accounts may have roles of the same name)."""
    role_name = arn.rsplit("/", 1)[-1].lower()
    return f"{re.sub(r'[^a-z0-9-]+', '-', role_name).strip('-')[:40]}-{hashlib.sha256(arn.encode()).hexdigest()[:8]}"


def pod_identity_trust(cluster_arn: str, namespace: str, service_account: str) -> str:
    """EKS Pod Identity's trust policy, narrowed by the session tags it sets to one cluster, namespace and service
    account: no other pod (nor the same add-on on another cluster) can assume the role."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "EksPodIdentityForOneServiceAccount", "Effect": "Allow",
        "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": {"StringEquals": {"aws:RequestTag/eks-cluster-arn": cluster_arn,
                                       "aws:RequestTag/kubernetes-namespace": namespace,
                                       "aws:RequestTag/kubernetes-service-account": service_account}}}]},
        sort_keys=True)


def policy_document(statements: tuple[IamStatement, ...], zone_arns: list[str]) -> str:
    """The role's policy: each statement as rendered, zone-scoped ones on the zones' ARNs; sorted keys, so
    previews never show a phantom diff."""
    rendered = []
    for item in statements:
        statement = dict(item.statement)
        if item.zone_scoped:
            statement["Resource"] = sorted(zone_arns)
        rendered.append(canonical(statement))
    return json.dumps({"Version": "2012-10-17", "Statement": rendered}, sort_keys=True)


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
