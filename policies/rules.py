"""Shipyard's guardrails as pure functions: a resource's type and inputs (plus the stack's facts) in, the
violations out, as one message each (an empty list: the resource passes).

Nothing here imports `pulumi_policy`: `__main__.py` wraps each function in a `ResourceValidationPolicy`, and
the main test environment unit-tests them directly (`tests/policies/test_rules.py`). Inputs are the engine's
view of a resource: camelCase property names, as the provider receives them. They are read as `Mapping` and
`Sequence`, never `dict`/`list`, because the policy pack hands over read-only proxies that raise when a value
is unknown during preview; so keys are tested with `_has` (iterating keys never touches a value).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# -- EKS: no public API endpoint in prod ------------------------------------------------------------
EKS_CLUSTER = "aws:eks/cluster:Cluster"


def eks_public_endpoint(resource_type: str, props: Mapping[str, Any], environment: str) -> list[str]:
    """A prod EKS cluster's API endpoint must not be reachable from the internet."""
    if resource_type != EKS_CLUSTER or environment != "prod":
        return []
    vpc = props.get("vpcConfig") if _has(props, "vpcConfig") else None
    public = vpc.get("endpointPublicAccess") if isinstance(vpc, Mapping) and _has(vpc, "endpointPublicAccess") else None
    # AWS makes the endpoint public when the flag is absent, so only an explicit false passes.
    if public is False:
        return []
    why = "is true" if public else "is not set (AWS then makes the endpoint public)"
    return [f"EKS cluster {_quoted(props.get('name'))}in a prod stack: vpcConfig.endpointPublicAccess {why}"]


# -- AWS: every taggable resource carries team and environment --------------------------------------
REQUIRED_TAGS = ("team", "environment")

KNOWN_TAGGABLE = frozenset({
    # What `components/cluster.py` creates, plus the usual suspects. Needed only for a resource whose inputs
    # carry no `tags` at all and whose provider sets no default tags: the engine's view of a resource does
    # not say whether its type supports tags, and flagging every AWS type would flag the ones that cannot
    # carry any (RolePolicyAttachment, RouteTableAssociation). Any AWS resource that does carry `tags` or
    # `tagsAll` is checked whatever its type.
    "aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/internetGateway:InternetGateway",
    "aws:ec2/routeTable:RouteTable", "aws:ec2/eip:Eip", "aws:ec2/natGateway:NatGateway",
    "aws:ec2/securityGroup:SecurityGroup", "aws:ec2/instance:Instance", "aws:ec2/launchTemplate:LaunchTemplate",
    "aws:iam/role:Role", "aws:iam/policy:Policy", "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
    "aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup", "aws:eks/addon:Addon",
    "aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2", "aws:rds/instance:Instance", "aws:rds/cluster:Cluster",
    "aws:kms/key:Key", "aws:ecr/repository:Repository", "aws:lb/loadBalancer:LoadBalancer",
    "aws:cloudwatch/logGroup:LogGroup", "aws:sqs/queue:Queue", "aws:sns/topic:Topic",
    "aws:dynamodb/table:Table", "aws:secretsmanager/secret:Secret",
})


def provider_default_tags(provider_props: Mapping[str, Any] | None) -> dict[str, str]:
    """The AWS provider's `defaultTags.tags`, which AWS applies to every taggable resource of that provider.

    Provider inputs that are objects reach the engine JSON-encoded (`"defaultTags": "{\\"tags\\": ...}"`);
    both that and a plain mapping are accepted."""
    if not provider_props or not _has(provider_props, "defaultTags"):
        return {}
    default_tags = provider_props.get("defaultTags")
    if isinstance(default_tags, str):
        try:
            default_tags = json.loads(default_tags)
        except ValueError:
            return {}
    tags = default_tags.get("tags") if isinstance(default_tags, Mapping) and _has(default_tags, "tags") else None
    return _string_map(tags)


def missing_cloud_tags(resource_type: str, props: Mapping[str, Any], provider_props: Mapping[str, Any] | None,
                       expected: Mapping[str, str]) -> list[str]:
    """An AWS resource that takes tags carries `team` and `environment`, with the stack's values.

    The tags that count are what AWS will put on the resource: the provider's default tags, overridden by
    `tagsAll` and the resource's own `tags`. Shipyard's components set both (`cloud_tags` on each resource,
    the same map as the provider's `defaultTags`), so either alone satisfies the rule."""
    if not resource_type.startswith("aws:"):
        return []
    own = _has(props, "tags")
    if not own and not _has(props, "tagsAll") and resource_type not in KNOWN_TAGGABLE:
        return []
    effective = {**provider_default_tags(provider_props), **_string_map(props.get("tags") if own else None)}
    if any(not effective.get(key) for key in REQUIRED_TAGS) and _has(props, "tagsAll"):
        # `tagsAll` is computed by the provider and may be unknown during preview: read it only when needed.
        effective = {**_string_map(props.get("tagsAll")), **effective}
    problems = []
    for key in REQUIRED_TAGS:
        value, want = effective.get(key), expected.get(key)
        if not value:
            problems.append(f"tag '{key}' is missing" + (f" (expected '{want}')" if want else ""))
        elif want and value != want:
            problems.append(f"tag '{key}' is '{value}', expected '{want}'")
    return [f"{resource_type}: " + "; ".join(problems)] if problems else []


# -- Kubernetes: LoadBalancer Services only in the ingress add-on's namespace ------------------------
SERVICE_TYPES = frozenset({"kubernetes:core/v1:Service", "kubernetes:core/v1:ServicePatch"})


def load_balancer_outside_ingress(resource_type: str, props: Mapping[str, Any], allowed_namespaces: Iterable[str],
                                  default_namespace: str = "default") -> list[str]:
    """Cloud load balancers come from the ingress add-on only; everything else goes through an Ingress."""
    if resource_type not in SERVICE_TYPES:
        return []
    spec = props.get("spec") if _has(props, "spec") else None
    if not isinstance(spec, Mapping) or not _has(spec, "type") or spec.get("type") != "LoadBalancer":
        return []
    namespace = namespace_of(props, default_namespace)
    allowed = sorted(set(allowed_namespaces))
    if namespace in allowed:
        return []
    where = ", ".join(f"'{n}'" for n in allowed) or "none configured"
    return [f"Service {_quoted(_name_of(props))}in namespace '{namespace}' has type LoadBalancer; "
            f"allowed only in the ingress add-on's namespace ({where})"]


# -- Kubernetes: no privileged containers in team namespaces -----------------------------------------
_POD_SPECS = {
    "core/v1:Pod": ("spec",),
    "core/v1:ReplicationController": ("spec", "template", "spec"),
    "apps/v1:Deployment": ("spec", "template", "spec"),
    "apps/v1:StatefulSet": ("spec", "template", "spec"),
    "apps/v1:DaemonSet": ("spec", "template", "spec"),
    "apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "batch/v1:Job": ("spec", "template", "spec"),
    "batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
# The `...Patch` variants edit an existing object and can add a privileged container just the same.
POD_SPEC_PATHS = {f"kubernetes:{kind}{suffix}": path for kind, path in _POD_SPECS.items() for suffix in ("", "Patch")}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


def privileged_containers(resource_type: str, props: Mapping[str, Any], team_namespaces: Iterable[str],
                          default_namespace: str = "default") -> list[str]:
    """No container in a team namespace runs privileged (full access to the node it lands on)."""
    path = POD_SPEC_PATHS.get(resource_type)
    if path is None or namespace_of(props, default_namespace) not in set(team_namespaces):
        return []
    spec: Any = props
    for key in path:
        spec = spec.get(key) if isinstance(spec, Mapping) and _has(spec, key) else None
    if not isinstance(spec, Mapping):
        return []
    found = []
    for field in CONTAINER_LISTS:
        containers = spec.get(field) if _has(spec, field) else None
        if not isinstance(containers, Sequence) or isinstance(containers, str):
            continue
        for container in containers:
            if not isinstance(container, Mapping):
                continue
            context = container.get("securityContext") if _has(container, "securityContext") else None
            if isinstance(context, Mapping) and _has(context, "privileged") and context.get("privileged") is True:
                name = container.get("name") if _has(container, "name") else None
                found.append(f"{field[:-1]} {_quoted(name)}".strip())
    if not found:
        return []
    return [f"{resource_type.rsplit(':', 1)[-1]} {_quoted(_name_of(props))}in team namespace "
            f"'{namespace_of(props, default_namespace)}' runs privileged: " + ", ".join(found)]


# -- IAM: add-on roles name their actions --------------------------------------------------------------
IAM_POLICY_TYPES = frozenset({"aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy"})


def wildcard_iam_actions(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """An IAM policy Shipyard creates (the add-ons' roles) allows exact actions only: no `*` in an action, and no
    `NotAction` (which allows everything else)."""
    if resource_type not in IAM_POLICY_TYPES or not _has(props, "policy"):
        return []
    document = props.get("policy")
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return []  # unknown during preview ("[unknown]"), or not JSON: IAM itself refuses the latter
    statements = document.get("Statement") if isinstance(document, Mapping) and _has(document, "Statement") else None
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, Sequence) or isinstance(statements, str):
        return []
    found = []
    for statement in statements:
        if not isinstance(statement, Mapping) or (_has(statement, "Effect") and statement.get("Effect") != "Allow"):
            continue
        sid = statement.get("Sid") if _has(statement, "Sid") else None
        where = f"statement {_quoted(sid)}".rstrip()
        if _has(statement, "NotAction"):
            found.append(f"{where} allows NotAction (everything but the actions listed)")
        actions = statement.get("Action") if _has(statement, "Action") else None
        for action in [actions] if isinstance(actions, str) else (actions if isinstance(actions, Sequence) else []):
            if isinstance(action, str) and ("*" in action or "?" in action):
                found.append(f"{where} allows '{action}'")
    return [f"{resource_type.rsplit(':', 1)[-1]}: " + "; ".join(found)] if found else []


# -- Kubernetes: nobody is put in system:masters ---------------------------------------------------------
ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
BINDING_TYPES = frozenset({"kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
                           "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"})


def system_masters(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """No EKS access entry maps a principal into a Kubernetes `system:` group, and no binding names
    `system:masters` (whose members pass every authorization check, beyond any RBAC rule or audit of it)."""
    if resource_type == ACCESS_ENTRY and _has(props, "kubernetesGroups"):
        groups = props.get("kubernetesGroups")
        bad = [g for g in groups if isinstance(g, str) and g.startswith("system:")] \
            if isinstance(groups, Sequence) and not isinstance(groups, str) else []
        principal = props.get("principalArn") if _has(props, "principalArn") else None
        if bad:
            return [f"access entry {_quoted(principal)}maps into {', '.join(bad)}"]
    if resource_type in BINDING_TYPES and _has(props, "subjects"):
        subjects = props.get("subjects")
        if isinstance(subjects, Sequence) and not isinstance(subjects, str):
            for subject in subjects:
                if (isinstance(subject, Mapping) and _has(subject, "name") and subject.get("name") == "system:masters"
                        and (not _has(subject, "kind") or subject.get("kind") == "Group")):
                    return [f"{resource_type.rsplit(':', 1)[-1]} {_quoted(_name_of(props))}binds system:masters"]
    return []


# -- the rules, named and described once -----------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """One guardrail: its policy name, its description ("<what>. Fix: <how>"), the stack facts it needs (config
    property -> "string" or "strings") and its check: (type, props, provider props, config, default namespace)."""

    name: str
    description: str
    config: Mapping[str, str]
    check: Callable[[str, Mapping[str, Any], Mapping[str, Any] | None, Mapping[str, Any], str], list[str]]


RULES = (
    Rule("eks-private-endpoint-in-prod",
         "Prod EKS clusters keep their API endpoint private. Fix: remove `cluster.publicEndpoint: true` from the "
         "prod stack file (reach the API through the VPC or a bastion), or set vpcConfig.endpointPublicAccess=False.",
         {"environment": "string"},
         lambda kind, props, provider, config, ns: eks_public_endpoint(kind, props, config["environment"])),
    Rule("aws-team-environment-tags",
         "Every AWS resource that takes tags carries the stack's `team` and `environment` tags. Fix: build AWS "
         "resources through Shipyard's components (they tag everything), or pass tags=cloud_tags(...) and use "
         "the cluster's AWS provider, whose defaultTags carry them.",
         {"team": "string", "environment": "string"},
         lambda kind, props, provider, config, ns: missing_cloud_tags(
             kind, props, provider, {"team": config["team"], "environment": config["environment"]})),
    Rule("load-balancer-only-in-ingress-namespace",
         "Services of type LoadBalancer (a cloud load balancer each) exist only in the ingress add-on's "
         "namespace. Fix: make the Service type ClusterIP and expose it through an Ingress served by ingress-nginx.",
         {"allowedNamespaces": "strings"},
         lambda kind, props, provider, config, ns: load_balancer_outside_ingress(
             kind, props, config["allowedNamespaces"], ns)),
    Rule("no-wildcard-iam-actions",
         "IAM policies (the add-ons' roles) allow exact actions only: no '*' in an action, no NotAction. Fix: list "
         "each action the add-on needs in its identity in addons/catalog.yaml (`identities`).",
         {},
         lambda kind, props, provider, config, ns: wildcard_iam_actions(kind, props)),
    Rule("no-system-masters",
         "Nobody is put in system:masters (or any Kubernetes system: group) through an access entry or a binding. "
         "Fix: map people to a group one of the stack's namespaces binds (cluster.access.groups); cluster admin "
         "is the CI apply identity's alone (policy.yaml applyRoleArn).",
         {},
         lambda kind, props, provider, config, ns: system_masters(kind, props)),
    Rule("no-privileged-containers-in-team-namespaces",
         "Containers in team namespaces never run privileged (that is root on the node). Fix: remove "
         "securityContext.privileged (or set it to false); ask the platform team for an add-on if you need "
         "node-level access.",
         {"teamNamespaces": "strings"},
         lambda kind, props, provider, config, ns: privileged_containers(kind, props, config["teamNamespaces"], ns)),
)


# -- helpers --------------------------------------------------------------------------------------------
def namespace_of(props: Mapping[str, Any], default: str = "default") -> str:
    """`metadata.namespace`, else the provider's default namespace (Kubernetes' own default: `default`)."""
    metadata = props.get("metadata") if _has(props, "metadata") else None
    namespace = metadata.get("namespace") if isinstance(metadata, Mapping) and _has(metadata, "namespace") else None
    return namespace if isinstance(namespace, str) and namespace else default


def _name_of(props: Mapping[str, Any]) -> Any:
    metadata = props.get("metadata") if _has(props, "metadata") else None
    return metadata.get("name") if isinstance(metadata, Mapping) and _has(metadata, "name") else None


def _has(mapping: Mapping[str, Any], key: str) -> bool:
    # `key in mapping` reads the value on a proxy (and raises when it is unknown); iterating keys does not.
    return key in set(iter(mapping))


def _string_map(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): v for k, v in ((k, value.get(k)) for k in iter(value)) if isinstance(v, str)}


def _quoted(name: Any) -> str:
    """`'name' ` (with the space) when the name is known, else nothing: messages read well either way."""
    return f"'{name}' " if isinstance(name, str) and name else ""
