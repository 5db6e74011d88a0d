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
        # A rule that needs no stack facts has no config (and gets none from shipyard.engine).
        config_schema=PolicyConfigSchema(properties=schema, required=sorted(schema)) if schema else None,
        validate=validate)


def _default_namespace(args: ResourceValidationArgs) -> str:
    """The Kubernetes provider's namespace for objects that name none (Kubernetes' own default otherwise)."""
    props = args.provider.props if args.provider is not None else {}
    namespace = props.get("namespace") if "namespace" in set(iter(props)) else None
    return namespace if isinstance(namespace, str) and namespace else "default"


SCHEMA = {"string": STRING, "strings": STRINGS}
# The rules and their words live in rules.py: Shipyard also runs them over the plan of a stack never applied.
POLICIES = [
    _policy(rule.name, rule.description, {key: SCHEMA[kind] for key, kind in rule.config.items()},
            lambda args, config, rule=rule: rule.check(
                args.resource_type, args.props, args.provider.props if args.provider is not None else None, config,
                _default_namespace(args)))
    for rule in rules.RULES
]

# The constructor serves the analyzer over gRPC, prints its port for the engine, and never returns.
PolicyPack(name=PACK, enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES,
           description="Shipyard's guardrails: no public prod EKS endpoint, team/environment tags on AWS resources, "
                       "LoadBalancer Services only for ingress, no privileged containers in team namespaces, exact "
                       "IAM actions in add-on roles, nobody in system:masters.")
