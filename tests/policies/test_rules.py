"""The guardrail rules of the policy pack (`policies/rules.py`), as pure functions: a passing and a failing
case for each rule.

These are the only tests of the two AWS rules: no AWS provider plugin can be built on this machine, so no
AWS resource ever reaches the engine here. The Kubernetes rules also run through the real engine and pack
in tests/integration/test_policies.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from policies import rules

TEAM_TAGS = {"team": "ledger", "environment": "prod", "managed-by": "shipyard"}
EXPECTED = {"team": "ledger", "environment": "prod"}


class Unknown(Mapping):
    """A mapping like the pack's proxy: reading a value named in `unknown` raises, as an unknown would."""

    def __init__(self, data: dict, unknown: tuple[str, ...] = ()):
        self._data, self._unknown = data, unknown

    def __getitem__(self, key):
        if key in self._unknown:
            raise AssertionError(f"read {key}, which is unknown during preview")
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self):
        return len(self._data)


def _eks(**vpc) -> dict:
    return {"name": "ledger-prod", "vpcConfig": {"subnetIds": ["subnet-1"], "endpointPrivateAccess": True, **vpc}}


# -- eks-private-endpoint-in-prod -------------------------------------------------------------------------
def test_prod_eks_cluster_with_private_endpoint_passes():
    assert rules.eks_public_endpoint(rules.EKS_CLUSTER, _eks(endpointPublicAccess=False), "prod") == []


def test_prod_eks_cluster_with_public_endpoint_is_refused():
    [message] = rules.eks_public_endpoint(rules.EKS_CLUSTER, _eks(endpointPublicAccess=True), "prod")
    assert "'ledger-prod'" in message and "endpointPublicAccess is true" in message


def test_prod_eks_cluster_that_leaves_the_endpoint_flag_unset_is_refused_because_aws_defaults_to_public():
    [message] = rules.eks_public_endpoint(rules.EKS_CLUSTER, _eks(), "prod")
    assert "not set" in message


def test_public_eks_endpoint_is_allowed_outside_prod():
    assert rules.eks_public_endpoint(rules.EKS_CLUSTER, _eks(endpointPublicAccess=True), "staging") == []


# -- aws-team-environment-tags ----------------------------------------------------------------------------
def test_aws_resource_tagged_with_team_and_environment_passes():
    assert rules.missing_cloud_tags("aws:ec2/vpc:Vpc", {"tags": TEAM_TAGS}, None, EXPECTED) == []


def test_aws_resource_without_team_tag_is_refused():
    [message] = rules.missing_cloud_tags("aws:ec2/vpc:Vpc", {"tags": {"environment": "prod"}}, None, EXPECTED)
    assert message == "aws:ec2/vpc:Vpc: tag 'team' is missing (expected 'ledger')"


def test_aws_resource_tagged_for_another_environment_is_refused():
    [message] = rules.missing_cloud_tags("aws:ec2/vpc:Vpc", {"tags": {**TEAM_TAGS, "environment": "dev"}}, None,
                                         EXPECTED)
    assert "tag 'environment' is 'dev', expected 'prod'" in message


def test_provider_default_tags_count_as_the_resources_tags():
    # How pulumi-aws receives `default_tags` on the provider: JSON-encoded, like every object-valued provider input.
    provider = {"region": "eu-west-1", "defaultTags": json.dumps({"tags": TEAM_TAGS})}
    assert rules.missing_cloud_tags("aws:ec2/subnet:Subnet", {"tags": {"Name": "x"}}, provider, EXPECTED) == []
    assert rules.missing_cloud_tags("aws:ec2/subnet:Subnet", {}, {"defaultTags": {"tags": TEAM_TAGS}}, EXPECTED) == []


def test_known_taggable_resource_with_no_tags_anywhere_is_refused():
    [message] = rules.missing_cloud_tags("aws:eks/nodeGroup:NodeGroup", {"clusterName": "c"}, {"region": "x"},
                                         EXPECTED)
    assert "tag 'team' is missing" in message and "tag 'environment' is missing" in message


def test_aws_resource_without_a_tags_property_such_as_a_policy_attachment_passes():
    props = {"role": "ledger-node-role", "policyArn": "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"}
    assert rules.missing_cloud_tags("aws:iam/rolePolicyAttachment:RolePolicyAttachment", props, None, EXPECTED) == []


def test_tags_all_is_read_only_when_own_and_default_tags_fall_short():
    unknown = Unknown({"tags": TEAM_TAGS, "tagsAll": "?"}, unknown=("tagsAll",))
    assert rules.missing_cloud_tags("aws:ec2/vpc:Vpc", unknown, None, EXPECTED) == []
    assert rules.missing_cloud_tags("aws:ec2/vpc:Vpc", {"tags": {}, "tagsAll": TEAM_TAGS}, None, EXPECTED) == []


def test_tags_rule_ignores_non_aws_resources():
    assert rules.missing_cloud_tags("kubernetes:core/v1:Namespace", {"metadata": {}}, None, EXPECTED) == []


# -- load-balancer-only-in-ingress-namespace --------------------------------------------------------------
def _service(namespace: str | None, type_: str = "LoadBalancer") -> dict:
    metadata = {"name": "web"} | ({"namespace": namespace} if namespace else {})
    return {"metadata": metadata, "spec": {"type": type_, "ports": [{"port": 80}]}}


def test_load_balancer_service_in_the_ingress_namespace_passes():
    assert rules.load_balancer_outside_ingress("kubernetes:core/v1:Service", _service("ingress-nginx"),
                                               ["ingress-nginx"]) == []


def test_load_balancer_service_in_a_team_namespace_is_refused():
    [message] = rules.load_balancer_outside_ingress("kubernetes:core/v1:Service", _service("ledger-api"),
                                                    ["ingress-nginx"])
    assert message == ("Service 'web' in namespace 'ledger-api' has type LoadBalancer; allowed only in the ingress "
                       "add-on's namespace ('ingress-nginx')")


def test_load_balancer_service_without_a_namespace_lands_in_the_providers_default_and_is_refused():
    [message] = rules.load_balancer_outside_ingress("kubernetes:core/v1:Service", _service(None), ["ingress-nginx"],
                                                    default_namespace="ledger-api")
    assert "namespace 'ledger-api'" in message


def test_cluster_ip_service_in_a_team_namespace_passes():
    assert rules.load_balancer_outside_ingress("kubernetes:core/v1:Service", _service("ledger-api", "ClusterIP"),
                                               ["ingress-nginx"]) == []


# -- no-privileged-containers-in-team-namespaces ----------------------------------------------------------
def _pod_spec(privileged: bool | None, field: str = "containers") -> dict:
    container = {"name": "app", "image": "nginx:1.29"}
    if privileged is not None:
        container["securityContext"] = {"privileged": privileged}
    return {field: [container]}


def _workload(kind: str, namespace: str, spec: dict) -> dict:
    metadata = {"name": "api", "namespace": namespace}
    if kind == "Pod":
        return {"metadata": metadata, "spec": spec}
    if kind == "CronJob":
        job = {"template": {"spec": spec}}
        return {"metadata": metadata, "spec": {"schedule": "@daily", "jobTemplate": {"spec": job}}}
    return {"metadata": metadata, "spec": {"template": {"spec": spec}}}


def test_unprivileged_pod_in_a_team_namespace_passes():
    props = _workload("Pod", "ledger-api", _pod_spec(False))
    assert rules.privileged_containers("kubernetes:core/v1:Pod", props, ["ledger-api"]) == []


@pytest.mark.parametrize("resource_type", ["kubernetes:core/v1:Pod", "kubernetes:apps/v1:Deployment",
                                           "kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:DaemonSet",
                                           "kubernetes:apps/v1:ReplicaSet", "kubernetes:batch/v1:Job",
                                           "kubernetes:batch/v1:CronJob", "kubernetes:apps/v1:DeploymentPatch"])
def test_privileged_container_in_a_team_namespace_is_refused_for_every_workload_kind(resource_type):
    kind = resource_type.rsplit(":", 1)[-1].removesuffix("Patch")
    [message] = rules.privileged_containers(resource_type, _workload(kind, "ledger-api", _pod_spec(True)),
                                            ["ledger-api"])
    assert "'api' in team namespace 'ledger-api' runs privileged: container 'app'" in message


@pytest.mark.parametrize("field", ["initContainers", "ephemeralContainers"])
def test_privileged_init_and_ephemeral_containers_are_refused_too(field):
    [message] = rules.privileged_containers("kubernetes:core/v1:Pod",
                                            _workload("Pod", "ledger-api", _pod_spec(True, field)), ["ledger-api"])
    assert f"{field[:-1]} 'app'" in message


def test_privileged_container_outside_team_namespaces_is_left_to_the_platform():
    props = _workload("DaemonSet", "monitoring", _pod_spec(True))
    assert rules.privileged_containers("kubernetes:apps/v1:DaemonSet", props, ["ledger-api"]) == []


# -- no-wildcard-iam-actions ------------------------------------------------------------------------------
def _policy(*statements: dict) -> dict:
    return {"role": "ledger-external-dns-identity", "policy": json.dumps({"Version": "2012-10-17",
                                                                           "Statement": list(statements)})}


EXACT = {"Sid": "Records", "Effect": "Allow", "Action": ["route53:ChangeResourceRecordSets"],
         "Resource": ["arn:aws:route53:::hostedzone/Z1"]}


def test_role_policy_with_exact_actions_passes():
    assert rules.wildcard_iam_actions("aws:iam/rolePolicy:RolePolicy", _policy(EXACT)) == []


@pytest.mark.parametrize("action", ["route53:*", "*", "route53:Change*", "s3:Get?bject"])
def test_role_policy_with_a_wildcard_action_is_refused(action):
    [message] = rules.wildcard_iam_actions("aws:iam/rolePolicy:RolePolicy",
                                           _policy(EXACT, {**EXACT, "Sid": "Broad", "Action": action}))
    assert f"statement 'Broad' allows '{action}'" in message


def test_not_action_is_refused_and_deny_statements_are_left_alone():
    not_action = {"Sid": "AllButIam", "Effect": "Allow", "NotAction": ["iam:CreateUser"], "Resource": ["*"]}
    [message] = rules.wildcard_iam_actions("aws:iam/policy:Policy", _policy(not_action))
    assert "NotAction" in message
    deny = {"Sid": "NoDelete", "Effect": "Deny", "Action": ["route53:*"], "Resource": ["*"]}
    assert rules.wildcard_iam_actions("aws:iam/rolePolicy:RolePolicy", _policy(EXACT, deny)) == []


def test_policy_unknown_during_preview_is_not_judged():
    assert rules.wildcard_iam_actions("aws:iam/rolePolicy:RolePolicy", {"policy": "[unknown]"}) == []
    assert rules.wildcard_iam_actions("aws:iam/rolePolicy:RolePolicy", Unknown({"role": "x"})) == []


# -- no-system-masters --------------------------------------------------------------------------------------
ARN = "arn:aws:iam::222222222222:role/ledger-leads"


def test_access_entry_into_team_groups_passes():
    props = {"principalArn": ARN, "kubernetesGroups": ["ledger-leads"], "type": "STANDARD"}
    assert rules.system_masters(rules.ACCESS_ENTRY, props) == []


@pytest.mark.parametrize("group", ["system:masters", "system:nodes"])
def test_access_entry_into_a_system_group_is_refused(group):
    [message] = rules.system_masters(rules.ACCESS_ENTRY, {"principalArn": ARN, "kubernetesGroups": [group]})
    assert f"'{ARN}' maps into {group}" in message


@pytest.mark.parametrize("kind", ["RoleBinding", "ClusterRoleBinding"])
def test_binding_of_system_masters_is_refused(kind):
    props = {"metadata": {"name": "break-glass"}, "roleRef": {"kind": "ClusterRole", "name": "view"},
             "subjects": [{"kind": "Group", "name": "system:masters", "apiGroup": "rbac.authorization.k8s.io"}]}
    [message] = rules.system_masters(f"kubernetes:rbac.authorization.k8s.io/v1:{kind}", props)
    assert "'break-glass' binds system:masters" in message
    props["subjects"] = [{"kind": "Group", "name": "ledger-leads"}]
    assert rules.system_masters(f"kubernetes:rbac.authorization.k8s.io/v1:{kind}", props) == []


def test_every_rule_is_described_with_a_fix():
    names = [rule.name for rule in rules.RULES]
    assert len(names) == len(set(names))
    assert {"no-wildcard-iam-actions", "no-system-masters"} <= set(names)
    assert all(" Fix: " in rule.description for rule in rules.RULES)
