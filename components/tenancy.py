"""TeamTenancy: a team's namespaces, each with quota, default limits, RBAC and a default-deny network policy."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components._common import MANAGED_BY_LABEL, TEAM_LABEL, shipyard_labels
from components._guard import deny_team_groups

# Defaults for containers that declare no requests/limits, so the quota (which counts requests)
# never rejects a pod just because its author forgot them.
DEFAULT_REQUEST = {"cpu": "100m", "memory": "128Mi"}
DEFAULT_LIMIT = {"cpu": "1", "memory": "512Mi"}
ROLE_FOR = {"admins": "admin", "developers": "edit", "viewers": "view"}
ENVIRONMENT_LABEL = "shipyard.io/environment"
# The kinds Shipyard creates in a team namespace, which the team's own groups may not change or delete.
GUARDED_RESOURCES = (("", "resourcequotas"), ("", "limitranges"), ("networking.k8s.io", "networkpolicies"),
                     ("rbac.authorization.k8s.io", "rolebindings"))


@dataclass(frozen=True)
class NamespaceSpec:
    name: str
    cpu: str
    memory: str
    pods: str
    admins: tuple[str, ...] = ()
    developers: tuple[str, ...] = ()
    viewers: tuple[str, ...] = ()


@dataclass(frozen=True)
class TeamTenancyArgs:
    team: str
    environment: str
    namespaces: tuple[NamespaceSpec, ...] = field(default_factory=tuple)
    protect: bool = False
    """Pulumi `protect` on the namespaces and the tenancy guard (prod): deleting one then needs an explicit
    unprotect."""

    @property
    def guarded_groups(self) -> tuple[str, ...]:
        """Every group the team's namespaces bind, in any role. Kubernetes' reserved `system:` groups
        (`system:authenticated`, ...) are left out: the platform's own identity is in them too, and the
        guard must never stop Shipyard itself."""
        return tuple(sorted({g for spec in self.namespaces for role in ROLE_FOR for g in getattr(spec, role)
                             if not g.startswith("system:")}))


class TeamTenancy(pulumi.ComponentResource):
    """Per namespace: Namespace, ResourceQuota, LimitRange, RoleBindings (admin/edit/view) for the team's
    groups, and a NetworkPolicy that denies ingress from outside the namespace.

    Per stack, a tenancy guard (ValidatingAdmissionPolicy + binding): the `edit` and `admin` roles let a
    team delete its `default-deny-ingress` policy and `admin` rewrite its RoleBindings, so the API server
    refuses UPDATE and DELETE of those Shipyard-managed objects to the team's groups. Anyone else, the
    identity that applies Shipyard included, is not matched: `up`, drift repair and `destroy` still work."""

    namespaces: dict[str, k8s.core.v1.Namespace]
    guard: k8s.admissionregistration.v1.ValidatingAdmissionPolicy | None
    """None when the namespaces bind no (non-`system:`) group: there is nobody to guard against."""

    def __init__(self, name: str, args: TeamTenancyArgs, provider: pulumi.ProviderResource,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("shipyard:tenancy:TeamTenancy", name, None, opts)
        self.namespaces = {}
        for spec in args.namespaces:
            self.namespaces[spec.name] = self._namespace(name, args, spec, provider)
        self.guard = self._guard(name, args, provider) if args.guarded_groups else None
        self.register_outputs({"namespaces": sorted(self.namespaces),
                               "guard": self.guard.metadata.name if self.guard else None})

    def _guard(self, name: str, args: TeamTenancyArgs,
               provider: pulumi.ProviderResource) -> k8s.admissionregistration.v1.ValidatingAdmissionPolicy:
        # Cluster-scoped, so named per stack: stacks of several teams (or one team's environments) share a cluster.
        guard_name = f"shipyard-{args.team}-{args.environment}-tenancy-guard"
        stack_file = f"stacks/{args.team}/{args.environment}.yaml"
        opts = pulumi.ResourceOptions(parent=self, provider=provider, protect=args.protect)
        return deny_team_groups(
            f"{name}-guard", guard_name, args.team, args.guarded_groups,
            {
                # Only this stack's namespaces, and only the objects Shipyard put there (for an UPDATE,
                # the old object counts too: taking the label off is refused like any other change).
                "namespaceSelector": {"matchLabels": {TEAM_LABEL: args.team, ENVIRONMENT_LABEL: args.environment}},
                "objectSelector": {"matchLabels": {MANAGED_BY_LABEL: "shipyard", TEAM_LABEL: args.team}},
                "resourceRules": [{"apiGroups": [group], "apiVersions": ["*"], "resources": [resource],
                                   "operations": ["UPDATE", "DELETE"]} for group, resource in GUARDED_RESOURCES],
            },
            "managed by Shipyard", stack_file, opts)

    def _namespace(self, name: str, args: TeamTenancyArgs, spec: NamespaceSpec,
                   provider: pulumi.ProviderResource) -> k8s.core.v1.Namespace:
        base = f"{name}-{spec.name}"
        labels = shipyard_labels(args.team, {ENVIRONMENT_LABEL: args.environment,
                                             # Pod Security Admission: no privileged pods in team namespaces.
                                             "pod-security.kubernetes.io/enforce": "baseline"})
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        ns = k8s.core.v1.Namespace(
            f"{base}-ns",
            metadata={"name": spec.name, "labels": labels},
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.protect)))
        in_ns = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[ns]))

        def meta(object_name: str) -> dict:
            return {"name": object_name, "namespace": spec.name, "labels": shipyard_labels(args.team)}

        k8s.core.v1.ResourceQuota(
            f"{base}-quota", metadata=meta("team-quota"),
            spec={"hard": {"requests.cpu": spec.cpu, "requests.memory": spec.memory, "pods": spec.pods}},
            opts=in_ns)
        k8s.core.v1.LimitRange(
            f"{base}-limits", metadata=meta("team-defaults"),
            spec={"limits": [{"type": "Container", "defaultRequest": DEFAULT_REQUEST, "default": DEFAULT_LIMIT}]},
            opts=in_ns)
        for field_name, role in ROLE_FOR.items():
            groups = getattr(spec, field_name)
            if not groups:
                continue
            k8s.rbac.v1.RoleBinding(
                f"{base}-{field_name}", metadata=meta(f"team-{field_name}"),
                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g}
                          for g in sorted(groups)],
                opts=in_ns)
        k8s.networking.v1.NetworkPolicy(
            f"{base}-default-deny", metadata=meta("default-deny-ingress"),
            spec={"podSelector": {}, "policyTypes": ["Ingress"],
                  # Deny everything from outside; pods of the same namespace still talk to each other.
                  "ingress": [{"from": [{"podSelector": {}}]}]},
            opts=in_ns)
        return ns
