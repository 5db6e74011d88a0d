"""The one admission guard shape: the API server refuses a team's own groups a set of requests.

A ValidatingAdmissionPolicy (and its binding) matches `constraints` and only requests made by one of
`groups`: anyone else, the identity that applies Shipyard included, never reaches the validation, so
`up`, drift repair and `destroy` keep working.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components._common import shipyard_labels


def deny_team_groups(resource_name: str, policy_name: str, team: str, groups: tuple[str, ...],
                     constraints: dict[str, Any], what: str, stack_file: str,
                     opts: pulumi.ResourceOptions) -> k8s.admissionregistration.v1.ValidatingAdmissionPolicy:
    # Group names are validated (no quotes or backslashes), so a JSON list is a valid CEL list literal.
    literal = json.dumps(list(groups))
    policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
        resource_name,
        metadata={"name": policy_name, "labels": shipyard_labels(team)},
        spec={
            "failurePolicy": "Fail",
            "matchConstraints": constraints,
            "matchConditions": [{"name": "requested-by-team-group",
                                 "expression": f"request.userInfo.groups.exists(g, g in {literal})"}],
            "validations": [{
                "expression": "false",
                "reason": "Forbidden",
                "message": f"{what}: change {stack_file} or ask the platform team",
                "messageExpression": (f"request.kind.kind + ' ' + request.name + ' is {what}; to change it, change "
                                      f"{stack_file} or ask the platform team'"),
            }],
        },
        opts=opts)
    k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
        f"{resource_name}-binding",
        metadata={"name": policy_name, "labels": shipyard_labels(team)},
        spec={"policyName": policy.metadata.name, "validationActions": ["Deny"]},
        opts=opts)
    return policy
