"""Shipyard's guardrails: a Pulumi policy pack the engine runs on every resource of every preview and up.

Each rule is a mandatory `ResourceValidationPolicy` around a pure function of `rules.py`. The facts a rule
needs about the stack (its team and environment, its team namespaces, the ingress add-on's namespace) come
as policy config, written per run by `shipyard.engine` from the stack file and the add-on catalog; every
property is required, so the pack refuses to run without them instead of silently passing.

A violation's message is the policy's description (one line: what the rule wants, then "Fix: ..."), then
the detail; `shipyard.engine` splits it back into those parts.

Run by `bin/pulumi-analyzer-policy-python` in the policy pack's own virtual environment (see there).
"""

from collections.abc import Callable
from typing import Any

from pulumi_policy import (EnforcementLevel, PolicyConfigSchema, PolicyPack, ReportViolation,
                           ResourceValidationArgs, ResourceValidationPolicy)

import rules

PACK = "shipyard-guardrails"
STRING = {"type": "string", "minLength": 1}
STRINGS = {"type": "array", "items": {"type": "string"}}


def _policy(name: str, description: str, schema: dict[str, dict[str, Any]],
            check: Callable[[ResourceValidationArgs, dict[str, Any]], list[str]]) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in check(args, dict(args.get_config())):
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=name, description=description, enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=PolicyConfigSchema(properties=schema, required=sorted(schema)), validate=validate)


def _default_namespace(args: ResourceValidationArgs) -> str:
    """The Kubernetes provider's namespace for objects that name none (Kubernetes' own default otherwise)."""
    props = args.provider.props if args.provider is not None else {}
    namespace = props.get("namespace") if "namespace" in set(iter(props)) else None
    return namespace if isinstance(namespace, str) and namespace else "default"


POLICIES = [
    _policy(
        "eks-private-endpoint-in-prod",
        "Prod EKS clusters keep their API endpoint private. Fix: remove `cluster.publicEndpoint: true` from the "
        "prod stack file (reach the API through the VPC or a bastion), or set vpcConfig.endpointPublicAccess=False.",
        {"environment": STRING},
        lambda args, config: rules.eks_public_endpoint(args.resource_type, args.props, config["environment"])),
    _policy(
        "aws-team-environment-tags",
        "Every AWS resource that takes tags carries the stack's `team` and `environment` tags. Fix: build AWS "
        "resources through Shipyard's components (they tag everything), or pass tags=cloud_tags(...) and use "
        "the cluster's AWS provider, whose defaultTags carry them.",
        {"team": STRING, "environment": STRING},
        lambda args, config: rules.missing_cloud_tags(
            args.resource_type, args.props, args.provider.props if args.provider is not None else None,
            {"team": config["team"], "environment": config["environment"]})),
    _policy(
        "load-balancer-only-in-ingress-namespace",
        "Services of type LoadBalancer (a cloud load balancer each) exist only in the ingress add-on's "
        "namespace. Fix: make the Service type ClusterIP and expose it through an Ingress served by ingress-nginx.",
        {"allowedNamespaces": STRINGS},
        lambda args, config: rules.load_balancer_outside_ingress(
            args.resource_type, args.props, config["allowedNamespaces"], _default_namespace(args))),
    _policy(
        "no-privileged-containers-in-team-namespaces",
        "Containers in team namespaces never run privileged (that is root on the node). Fix: remove "
        "securityContext.privileged (or set it to false); ask the platform team for an add-on if you need "
        "node-level access.",
        {"teamNamespaces": STRINGS},
        lambda args, config: rules.privileged_containers(
            args.resource_type, args.props, config["teamNamespaces"], _default_namespace(args))),
]

# The constructor serves the analyzer over gRPC, prints its port for the engine, and never returns.
PolicyPack(name=PACK, enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES,
           description="Shipyard's guardrails: no public prod EKS endpoint, team/environment tags on AWS resources, "
                       "LoadBalancer Services only for ingress, no privileged containers in team namespaces.")
