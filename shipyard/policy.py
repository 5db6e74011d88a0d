"""The platform policy (`policy.yaml`): what a stack may ask for in each environment.

The platform team owns the file (CODEOWNERS); teams only see its effect, as errors located at the key
of their own stack file that breaks a rule. Rules that need the engine's view of resources (tags,
endpoint exposure, privileged pods) are the Pulumi policy pack in `policies/` instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from shipyard.cost import PRICES_FILE, CostEstimate, PriceTable, UnpricedError, estimate, money
from shipyard.models import (ENVIRONMENTS, DnsLabel, IamRoleArn, InstanceType, KubernetesVersion, NamespaceQuota,
                             Owner, Quantity, Region, _error, _located, _Model, quantity_value)

if TYPE_CHECKING:
    from shipyard.catalog import Catalog
    from shipyard.models import StackFile

POLICY_FILE = Path("policy.yaml")

Located = tuple[tuple[str | int, ...], Any, Any]


QUOTA_RESOURCES = ("cpu", "memory", "pods")


class QuotaCaps(_Model):
    """The most one namespace's quota may ask for, per resource (a resource left out is not capped)."""

    cpu: Quantity | None = None
    """Largest `quota.cpu`, e.g. `"32"`."""
    memory: Quantity | None = None
    """Largest `quota.memory`, e.g. `64Gi`."""
    pods: Quantity | None = None
    """Largest `quota.pods`, e.g. `200`."""


class EnvironmentPolicy(_Model):
    """What stacks of one environment may ask for."""

    regions: list[Region] = Field(min_length=1)
    """AWS regions eks clusters may run in."""
    instance_types: list[InstanceType] = Field(min_length=1)
    """EC2 instance types node groups may use."""
    kubernetes_versions: list[KubernetesVersion] = Field(min_length=1)
    """Kubernetes minors clusters may run (checked wherever a stack sets `kubernetesVersion`)."""
    max_nodes_per_group: int = Field(ge=1, le=1000)
    """Largest `maxSize` of one node group."""
    max_nodes_total: int = Field(ge=1, le=10000)
    """Largest sum of `maxSize` over a cluster's node groups."""
    required_addons: list[DnsLabel] = Field(default_factory=list)
    """Add-ons or bundles every stack of the environment must get (a bundle: all of its add-ons)."""
    monthly_budget: float = Field(ge=0)
    """Most a stack may cost per month (estimate from the price table), in the price table's currency."""
    default_quota: NamespaceQuota
    """The quota of a namespace that does not set `quota` itself; within `maxQuota`."""
    max_quota: QuotaCaps = Field(default_factory=QuotaCaps)
    """The most a namespace's quota may ask for."""
    apply_role_arn: IamRoleArn
    """The IAM role CI applies this environment's stacks with (deploy.yml's `SHIPYARD_APPLY_ROLE_ARN`): cluster
    admin of every eks cluster of the environment, through an EKS access entry (the only one Shipyard grants
    `AmazonEKSClusterAdminPolicy`)."""
    preview_role_arn: IamRoleArn | None = None
    """The read-only role previews and drift checks run as (`SHIPYARD_PREVIEW_ROLE_ARN`): on eks clusters an
    access entry in the `shipyard-preview` group, which may get, list and watch everything."""

    @model_validator(mode="after")
    def _default_within_caps(self) -> EnvironmentPolicy:
        errors: list[Located] = []
        for resource in QUOTA_RESOURCES:
            cap, default = getattr(self.max_quota, resource), getattr(self.default_quota, resource)
            if cap is not None and quantity_value(str(default)) > quantity_value(str(cap)):
                errors.append((("defaultQuota", resource), _error(
                    "quota_cap", "the default {resource} quota {value} is over maxQuota.{resource} {cap}; lower it",
                    resource=resource, value=str(default), cap=str(cap)), default))
        _located("EnvironmentPolicy", errors)
        return self

    def quota_for(self, quota: NamespaceQuota | None) -> NamespaceQuota:
        """A namespace's quota: its own, or the environment's default."""
        return quota if quota is not None else self.default_quota


class Policy(_Model):
    """The platform policy, per environment."""

    platform_team: list[Owner] = Field(min_length=1)
    """GitHub teams or users of the platform team: they own components/, addons/, the policy and may
    approve any change."""
    environments: dict[str, EnvironmentPolicy]
    """Rules per environment; every environment (dev, staging, prod) must be listed."""
    budget_overrides: dict[str, float] = Field(default_factory=dict)
    """Monthly budget of single stacks (`<team>-<env>`) that differ from their environment's."""

    @model_validator(mode="after")
    def _every_environment(self) -> Policy:
        errors: list[Located] = []
        for env in ENVIRONMENTS:
            if env not in self.environments:
                errors.append((("environments",), _error("missing_environment", "environment '{env}' has no rules; "
                                                         "add environments.{env}", env=env), None))
        for env in self.environments:
            if env not in ENVIRONMENTS:
                errors.append((("environments", env), _error("unknown_environment", "unknown environment '{env}'; "
                                                             "use one of: {known}", env=env,
                                                             known=", ".join(ENVIRONMENTS)), env))
        for name, budget in self.budget_overrides.items():
            if budget < 0:
                errors.append((("budgetOverrides", name), _error("budget", "budget must be 0 or more"), budget))
        _located("Policy", errors)
        return self

    def budget_for(self, stack: StackFile) -> float:
        return self.budget_overrides.get(stack.stack_name, self.environments[stack.environment].monthly_budget)

    # -- catalog and price table consistency (reported in policy.yaml) ---------------------------------
    def check_references(self, catalog: Catalog | None, prices: PriceTable | None) -> list[Located]:
        errors: list[Located] = []
        for env, rules in self.environments.items():
            if catalog is not None:
                for index, name in enumerate(rules.required_addons):
                    if name not in catalog.addons and name not in catalog.bundles:
                        errors.append((("environments", env, "requiredAddons", index),
                                       _error("unknown_addon", "'{name}' is neither an add-on nor a bundle of "
                                              "addons/catalog.yaml", name=name), name))
            if prices is None:
                continue
            for index, region in enumerate(rules.regions):
                if region not in prices.regions:
                    errors.append((("environments", env, "regions", index),
                                   _error("unpriced", "region '{region}' has no prices in {file}; add them there "
                                          "first so budgets can be checked", region=region, file=PRICES_FILE), region))
                    continue
                for t_index, itype in enumerate(rules.instance_types):
                    if itype not in prices.regions[region].instances:
                        errors.append((("environments", env, "instanceTypes", t_index),
                                       _error("unpriced", "{itype} has no price in {region} in {file}; add it there "
                                              "first so budgets can be checked", itype=itype, region=region,
                                              file=PRICES_FILE), itype))
        return errors

    # -- the rules a stack file must keep (located in the stack file) ----------------------------------
    def check_stack(self, stack: StackFile, catalog: Catalog | None, prices: PriceTable | None) -> list[Located]:
        rules = self.environments[stack.environment]
        env = stack.environment
        where = f"policy.yaml environments.{env}"
        errors: list[Located] = []
        spec = stack.cluster
        if spec.provider == "eks" and spec.region and spec.region not in rules.regions:
            errors.append((("cluster", "region"), _error(
                "policy_region", "region '{value}' is not allowed in {env} ({where}.regions); use one of: {allowed}",
                value=spec.region, env=env, where=where, allowed=", ".join(rules.regions)), spec.region))
        if spec.kubernetes_version and spec.kubernetes_version not in rules.kubernetes_versions:
            errors.append((("cluster", "kubernetesVersion"), _error(
                "policy_kubernetes_version", "Kubernetes {value} is not allowed in {env} ({where}.kubernetesVersions);"
                " use one of: {allowed}", value=spec.kubernetes_version, env=env, where=where,
                allowed=", ".join(rules.kubernetes_versions)), spec.kubernetes_version))
        total = 0
        for index, group in enumerate(spec.node_groups or ()):
            total += group.max_size
            if group.instance_type not in rules.instance_types:
                errors.append((("cluster", "nodeGroups", index, "instanceType"), _error(
                    "policy_instance_type", "instance type {value} is not allowed in {env} ({where}.instanceTypes); "
                    "use one of: {allowed}", value=group.instance_type, env=env, where=where,
                    allowed=", ".join(rules.instance_types)), group.instance_type))
            if group.max_size > rules.max_nodes_per_group:
                errors.append((("cluster", "nodeGroups", index, "maxSize"), _error(
                    "policy_max_nodes", "maxSize {value} is over the {env} limit of {limit} nodes per group "
                    "({where}.maxNodesPerGroup); lower it or split the group", value=group.max_size, env=env,
                    limit=rules.max_nodes_per_group, where=where), group.max_size))
        for index, namespace in enumerate(stack.namespaces):
            for resource in QUOTA_RESOURCES:
                cap = getattr(rules.max_quota, resource)
                value = getattr(namespace.quota, resource) if namespace.quota is not None else None
                if cap is not None and value is not None and quantity_value(str(value)) > quantity_value(str(cap)):
                    errors.append((("namespaces", index, "quota", resource), _error(
                        "policy_quota", "{resource} {value} is over the {env} cap of {cap} per namespace "
                        "({where}.maxQuota.{resource}); lower it, or omit quota for the default", resource=resource,
                        value=str(value), env=env, cap=str(cap), where=where), value))
        if total > rules.max_nodes_total:
            errors.append((("cluster", "nodeGroups"), _error(
                "policy_max_nodes", "node groups may grow to {total} nodes in total (sum of maxSize), over the {env} "
                "limit of {limit} ({where}.maxNodesTotal); lower maxSize", total=total, env=env,
                limit=rules.max_nodes_total, where=where), total))
        if catalog is not None:
            errors += self._required_addons(stack, catalog, rules, where)
            if prices is not None and not errors:
                # Only within the allowed types and regions: an unpriced type is already reported above.
                errors += self._budget(stack, catalog, prices)
        return errors

    def _required_addons(self, stack: StackFile, catalog: Catalog, rules: EnvironmentPolicy,
                         where: str) -> list[Located]:
        errors: list[Located] = []
        gets = set(catalog.addons_for(stack))
        for required in rules.required_addons:
            is_bundle = required in catalog.bundles
            needed = catalog.bundles[required].addons if is_bundle else [required]
            missing = [name for name in needed if name not in gets]
            if not missing:
                continue
            disabled = [i for i, name in enumerate(stack.addons.disable) if name in missing]
            what = f"bundle '{required}'" if is_bundle else f"add-on '{required}'"
            fix = f"add it to addons.{'bundles' if is_bundle else 'enable'}"
            if disabled:
                for index in disabled:
                    name = stack.addons.disable[index]
                    errors.append((("addons", "disable", index), _error(
                        "policy_required_addon", "'{name}' is required in {env} (it is part of {what}, "
                        "{where}.requiredAddons); remove it from addons.disable", name=name, env=stack.environment,
                        what=what, where=where), name))
            else:
                errors.append((("addons",), _error(
                    "policy_required_addon", "{env} stacks must get {what} ({where}.requiredAddons); {fix}",
                    env=stack.environment, what=what, where=where, fix=fix), None))
        return errors

    def _budget(self, stack: StackFile, catalog: Catalog, prices: PriceTable) -> list[Located]:
        try:
            cost = estimate(stack, catalog, prices)
        except UnpricedError as exc:
            return [(exc.loc, _error("unpriced", str(exc)), None)]
        budget = self.budget_for(stack)
        if cost.monthly <= budget:
            return []
        source = (f"policy.yaml budgetOverrides.{stack.stack_name}" if stack.stack_name in self.budget_overrides
                  else f"policy.yaml environments.{stack.environment}.monthlyBudget")
        return [(("cluster",), _error(
            "policy_budget", "estimated cost {cost}/month is over the budget of {budget} ({source}): {lines}; "
            "use fewer or smaller nodes, or ask the platform team for a budget override",
            cost=money(cost.monthly, cost.currency), budget=money(budget, cost.currency), source=source,
            lines=describe(cost)), cost.monthly)]


def with_default_quotas(stack: StackFile, policy: Policy) -> StackFile:
    """The stack with every namespace's quota resolved (its own, or its environment's default): what is built
    and what previews show."""
    rules = policy.environments[stack.environment]
    if all(namespace.quota is not None for namespace in stack.namespaces):
        return stack
    namespaces = [namespace.model_copy(update={"quota": rules.quota_for(namespace.quota)})
                  for namespace in stack.namespaces]
    return stack.model_copy(update={"namespaces": namespaces})


def describe(cost: CostEstimate) -> str:
    """One line: the biggest items first."""
    return describe_lines(cost.as_json())


def describe_lines(cost: dict[str, Any]) -> str:
    """`describe` for the JSON form of an estimate (what reports carry)."""
    parts = sorted(cost["lines"], key=lambda line: -line["monthly"])
    return ", ".join(f"{line['item']} {money(line['monthly'], cost['currency'])}" for line in parts)
