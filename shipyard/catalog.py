"""The add-on catalog (`addons/catalog.yaml`): pinned Helm charts and the bundles that group them.

The platform team owns the data; this module is its model, its validation and the
one rule that decides which add-ons a stack gets: bundles + enable - disable.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from shipyard.models import DnsLabel, _error, _located, _Model

if TYPE_CHECKING:
    from shipyard.models import StackFile

CATALOG_FILE = Path("addons") / "catalog.yaml"
AUTOSCALER_ADDON = "cluster-autoscaler"
"""The add-on that owns node groups' live size on the stacks that get it (README, Autoscaling)."""

# Exact chart versions only: `4.13.3` or `v1.18.2`, optional pre-release/build. No ranges, no wildcards.
_EXACT_VERSION = re.compile(r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
# http:// too: the pinned digest, not the transport, is what guarantees the archive (internal repositories).
_REPOSITORY = re.compile(r"^(https?://|oci://)[^\s]+$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# One IAM action, never a wildcard: `route53:ChangeResourceRecordSets`, not `route53:*` or `route53:Change*`.
_IAM_ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9]+$")
HOSTED_ZONES = "{hostedZones}"
"""A statement resource standing for the ARNs of the stack's hosted zones (`addons.dns.zones`)."""
CLUSTER = "{cluster}"
"""Stands for the cluster's name in resources and condition keys and values."""
_PLACEHOLDER = re.compile(r"\{[^}]*\}")


class GeneratedSecret(_Model):
    """A Secret a chart expects but only ever makes in a Helm hook Job. Charts are applied as `helm template`
    would (hooks never run), so Shipyard creates it, before the chart, with random values made once and kept
    for the life of the add-on (never regenerated: previews stay clean, and the add-on's data stays readable)."""

    name: DnsLabel
    """The Secret's name in the add-on's namespace, as the chart refers to it."""
    keys: list[str] = Field(min_length=1, max_length=10)
    """Its keys, each given 32 random URL-safe bytes."""

    @field_validator("keys")
    @classmethod
    def _keys(cls, value: list[str]) -> list[str]:
        for key in value:
            if not re.fullmatch(r"[-._a-zA-Z0-9]{1,253}", key):
                raise _error("secret_key", "'{value}' is not a Secret key (letters, digits, '-', '_', '.')", value=key)
        if len(set(value)) != len(value):
            raise _error("secret_key", "each key once")
        return value


class AddonEntry(_Model):
    """One add-on: a Helm chart at an exact version, installed into its own namespace."""

    description: str
    """What the add-on does, in one line."""
    chart: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    """Chart name in its repository."""
    repository: str
    """Upstream Helm chart repository (https://, http:// or oci://; oci:// charts install from a chart mirror only)."""
    version: str
    """Exact chart version; ranges are rejected so every preview is reproducible."""
    digest: str
    """`sha256:<hex>` of the chart archive `<chart>-<version>.tgz`: every archive is checked against it before
    anything is installed, whether it comes from a chart mirror or the repository."""
    namespace: DnsLabel
    """Namespace the chart is installed into."""
    values: dict[str, Any] = Field(default_factory=dict)
    """Default Helm values; a stack's `addons.values.<name>` is deep-merged over them."""
    local_values: dict[str, Any] = Field(default_factory=dict)
    """Values deep-merged over `values` (and under the stack's own) only on `cluster.provider: local`, whose
    pods are simulated: what a chart needs there that it cannot have (a webhook that must answer)."""
    generated_secrets: list[GeneratedSecret] = Field(default_factory=list)
    """Secrets the chart needs that only its Helm hooks would make (see GeneratedSecret)."""
    load_balancers: int = Field(default=0, ge=0, le=10)
    """Cloud load balancers the add-on creates (a Service of type LoadBalancer each); priced in cost estimates."""

    @field_validator("version")
    @classmethod
    def _exact(cls, value: str) -> str:
        if not _EXACT_VERSION.match(value):
            raise _error("exact_version", "chart version '{value}' is not an exact version; pin it, e.g. 4.13.3 "
                         "(ranges and wildcards make previews unreproducible)", value=value)
        return value

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        if not _REPOSITORY.match(value):
            raise _error("repository", "repository '{value}' must be an https://, http:// or oci:// URL", value=value)
        return value

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str) -> str:
        if not _DIGEST.match(value):
            raise _error("digest", "digest '{value}' is not a sha256 digest; write sha256:<64 lower-case hex digits>, "
                         "the sha256 of the chart archive (`sha256sum <chart>-<version>.tgz`)", value=value)
        return value

    @model_validator(mode="before")
    @classmethod
    def _digest_pinned(cls, data: Any) -> Any:
        if isinstance(data, dict) and "digest" not in data:
            raise _error("missing_digest", "missing 'digest': pin the chart archive next to its version, e.g. "
                         "digest: sha256:<64 hex digits> (the sha256 of <chart>-<version>.tgz); an unpinned archive "
                         "could change under the same version")
        return data


class PermissionStatement(_Model):
    """One statement of an add-on's IAM policy: always Allow, exact actions only."""

    sid: str = Field(pattern=r"^[A-Za-z0-9]{1,100}$")
    """Statement id: what the statement is for, in CamelCase."""
    actions: list[str] = Field(min_length=1)
    """Exact IAM actions (`route53:ChangeResourceRecordSets`); wildcards are refused."""
    resources: list[str] = Field(min_length=1)
    """ARNs (`{cluster}` stands for the cluster's name), `{hostedZones}` for the stack's zones, or `*` for calls
    that take no resource (List/Describe)."""
    conditions: dict[str, dict[str, str | list[str]]] = Field(default_factory=dict)
    """IAM conditions, operator -> key -> value(s); `{cluster}` may appear in keys and values."""

    @property
    def zone_scoped(self) -> bool:
        """Its resources are the stack's hosted zones."""
        return self.resources == [HOSTED_ZONES]

    def rendered(self, cluster: str) -> dict[str, Any]:
        """The IAM statement for `cluster` (`{cluster}` replaced); a zone-scoped one has no `Resource` yet."""
        def fill(text: str) -> str:
            return text.replace(CLUSTER, cluster)

        statement: dict[str, Any] = {"Sid": self.sid, "Effect": "Allow", "Action": sorted(self.actions)}
        if not self.zone_scoped:
            statement["Resource"] = sorted(fill(r) for r in self.resources)
        if self.conditions:
            statement["Condition"] = {op: {fill(k): ([fill(x) for x in v] if isinstance(v, list) else fill(v))
                                           for k, v in keys.items()} for op, keys in self.conditions.items()}
        return statement

    @model_validator(mode="after")
    def _exact(self) -> PermissionStatement:
        errors = []
        for index, action in enumerate(self.actions):
            if not _IAM_ACTION.fullmatch(action):
                errors.append((("actions", index), _error(
                    "iam_action", "'{value}' is not one exact IAM action; name each action (service:Action), never a "
                    "wildcard: an add-on's role gets only what it needs", value=action), action))
        if HOSTED_ZONES in self.resources and len(self.resources) > 1:
            errors.append((("resources",), _error(
                "iam_resource", "{zones} stands for all of the stack's zones: make it the statement's only resource "
                "(put other resources in a statement of their own)", zones=HOSTED_ZONES), None))
        for index, resource in enumerate(self.resources):
            if resource in ("*", HOSTED_ZONES):
                continue
            if not resource.startswith("arn:") or set(_PLACEHOLDER.findall(resource)) - {CLUSTER}:
                errors.append((("resources", index), _error(
                    "iam_resource", "'{value}' is not an ARN, '*' or {zones}; the only placeholder inside an ARN "
                    "is {cluster}", value=resource, zones=HOSTED_ZONES, cluster=CLUSTER), resource))
        for operator, keys in self.conditions.items():
            for key, value in keys.items():
                texts = [key, *(value if isinstance(value, list) else [value])]
                if any(set(_PLACEHOLDER.findall(text)) - {CLUSTER} for text in texts):
                    errors.append((("conditions", operator, key), _error(
                        "iam_condition", "only {cluster} may stand for a value in conditions", cluster=CLUSTER), key))
        _located("PermissionStatement", errors)
        return self


class AddonIdentity(_Model):
    """The AWS permissions an add-on's pods get on eks clusters: one IAM role per add-on and cluster, assumable
    only by the add-on's service account through EKS Pod Identity."""

    service_account: DnsLabel
    """The Kubernetes service account the add-on's chart runs its pods as (in the add-on's namespace)."""
    statements: list[PermissionStatement] = Field(min_length=1)
    """The role's permissions."""
    hosted_zones: Literal["required", "optional"] | None = None
    """`required`: a stack that gets the add-on on eks must name its zones (`addons.dns.zones`); `optional`: the
    role exists only on stacks that name zones. Unset: the add-on does not use zones (`{hostedZones}` refused)."""
    zone_values: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]+(\.[A-Za-z0-9]+)*$")
    """Dotted path of the add-on's Helm value that receives the zone names (external-dns: `domainFilters`)."""
    namespace: DnsLabel | None = None
    """Only for an add-on not (yet) in the catalog (see `awaits`): the namespace it will be installed into."""
    awaits: str | None = None
    """Set while the add-on itself is not in the catalog yet (why, and what it waits for): the identity is
    validated but applies to no stack until the add-on exists; remove it when the add-on is added."""

    @model_validator(mode="after")
    def _zones_declared(self) -> AddonIdentity:
        errors = []
        uses_zones = any(HOSTED_ZONES in s.resources for s in self.statements)
        if uses_zones and self.hosted_zones is None:
            errors.append((("statements",), _error(
                "iam_zones", "a statement uses {zones} but hostedZones is not set; set it to required or optional",
                zones=HOSTED_ZONES), None))
        if self.zone_values is not None and self.hosted_zones is None:
            errors.append((("zoneValues",), _error("iam_zones", "zoneValues needs hostedZones"), self.zone_values))
        _located("AddonIdentity", errors)
        return self


class Bundle(_Model):
    """A named group of add-ons teams enable together."""

    description: str
    """What the bundle is for."""
    addons: list[str] = Field(min_length=1)
    """Add-on names from this catalog."""


class Catalog(_Model):
    """The platform's add-on catalog."""

    addons: dict[DnsLabel, AddonEntry]
    """Every add-on teams can get, by name."""
    bundles: dict[DnsLabel, Bundle]
    """Named groups of add-ons."""
    identities: dict[DnsLabel, AddonIdentity] = Field(default_factory=dict)
    """Workload identities: add-on -> the AWS permissions its pods get on eks clusters."""
    _core_addons: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _bundles_reference_entries(self) -> Catalog:
        errors = []
        for name, bundle in self.bundles.items():
            for index, addon in enumerate(bundle.addons):
                if addon not in self.addons:
                    errors.append((("bundles", name, "addons", index),
                                   _error("unknown_addon", "bundle '{bundle}' lists '{addon}', which is not an add-on "
                                          "in this catalog; known: {known}", bundle=name, addon=addon,
                                          known=", ".join(sorted(self.addons))), addon))
        for name, identity in self.identities.items():
            entry = self.addons.get(name)
            if entry is None and identity.awaits is None:
                errors.append((("identities", name), _error(
                    "unknown_addon", "identity for '{name}', which is not an add-on of this catalog; add the add-on, "
                    "or set awaits: (why it is not here yet) and its namespace", name=name), name))
            elif entry is None and identity.namespace is None:
                errors.append((("identities", name), _error(
                    "identity_namespace", "'{name}' is not in the catalog yet: set the namespace it will be installed "
                    "into", name=name), name))
            elif entry is not None and identity.awaits is not None:
                errors.append((("identities", name, "awaits"), _error(
                    "identity_awaits", "'{name}' is in the catalog now; remove awaits", name=name), identity.awaits))
            elif entry is not None and identity.namespace not in (None, entry.namespace):
                errors.append((("identities", name, "namespace"), _error(
                    "identity_namespace", "the add-on is installed into '{ns}'; remove namespace or set it to that",
                    ns=entry.namespace), identity.namespace))
        _located("Catalog", errors)
        return self

    @property
    def core_addons(self) -> Any:
        """The EKS core add-on pins (`shipyard.coreaddons.CoreAddonPins`), set by the loader; None if not loaded."""
        return self._core_addons

    def with_core_addons(self, pins: Any) -> Catalog:
        self._core_addons = pins
        return self

    def identities_for(self, stack: StackFile) -> dict[str, AddonIdentity]:
        """The workload identities an eks stack gets: those of its add-ons, a zone-optional one only where the
        stack names zones. Other providers get none (their pods cannot assume AWS roles through EKS)."""
        if stack.cluster.provider != "eks":
            return {}
        zones = stack.addons.dns is not None
        return {name: self.identities[name] for name in self.addons_for(stack)
                if name in self.identities and (self.identities[name].hosted_zones != "optional" or zones)}

    def autoscaled(self, stack: StackFile) -> bool:
        """An autoscaler owns the stack's node groups' live size (`desiredSize` only starts a group)."""
        return stack.cluster.provider == "eks" and AUTOSCALER_ADDON in self.addons_for(stack)

    def identity_namespace(self, name: str) -> str:
        entry = self.addons.get(name)
        namespace = entry.namespace if entry is not None else self.identities[name].namespace
        assert namespace is not None  # checked by the model validator
        return namespace

    # -- the one rule: what a stack gets ------------------------------------------------------------
    def addons_for(self, stack: StackFile) -> list[str]:
        """Sorted add-on names a (valid) stack gets: its bundles' add-ons plus `enable`, minus `disable`."""
        chosen: set[str] = set(stack.addons.enable)
        for bundle in stack.addons.bundles:
            chosen.update(self.bundles[bundle].addons)
        return sorted(chosen - set(stack.addons.disable))

    def check_stack(self, stack: StackFile) -> list[tuple[tuple[str | int, ...], Any, Any]]:
        """Catalog rules for a stack file, each located at the offending key (used by the model validator)."""
        errors: list[tuple[tuple[str | int, ...], Any, Any]] = []
        spec = stack.addons
        known_addons = ", ".join(sorted(self.addons))
        from_bundles: dict[str, str] = {}
        for index, bundle in enumerate(spec.bundles):
            if bundle not in self.bundles:
                errors.append((("addons", "bundles", index),
                               _error("unknown_bundle", "unknown bundle '{name}'; the catalog has: {known}",
                                      name=bundle, known=", ".join(sorted(self.bundles))), bundle))
                continue
            for addon in self.bundles[bundle].addons:
                from_bundles.setdefault(addon, bundle)
        for key in ("bundles", "enable", "disable"):
            seen: set[str] = set()
            for index, name in enumerate(getattr(spec, key)):
                if name in seen:
                    errors.append((("addons", key, index), _error("duplicate", "'{name}' is listed twice in "
                                                                  "addons.{key}; remove one", name=name, key=key),
                                   name))
                seen.add(name)
        for key in ("enable", "disable"):
            for index, name in enumerate(getattr(spec, key)):
                if name not in self.addons:
                    errors.append((("addons", key, index), _error("unknown_addon", "unknown add-on '{name}'; the "
                                                                  "catalog has: {known}", name=name,
                                                                  known=known_addons), name))
        for index, name in enumerate(spec.enable):
            if name in from_bundles:
                errors.append((("addons", "enable", index),
                               _error("redundant", "'{name}' already comes with bundle '{bundle}'; remove it from "
                                      "addons.enable", name=name, bundle=from_bundles[name]), name))
            if name in spec.disable:
                errors.append((("addons", "enable", index),
                               _error("conflict", "'{name}' is both enabled and disabled; keep one", name=name), name))
        for index, name in enumerate(spec.disable):
            if name in self.addons and name not in from_bundles:
                errors.append((("addons", "disable", index),
                               _error("not_in_bundle", "'{name}' is not brought by any of this stack's bundles, so "
                                      "there is nothing to disable; remove it", name=name), name))
        gets = set(spec.enable) | set(from_bundles)
        gets -= set(spec.disable)
        for name in spec.values:
            if name not in self.addons:
                errors.append((("addons", "values", name), _error("unknown_addon", "values for unknown add-on "
                                                                  "'{name}'; the catalog has: {known}", name=name,
                                                                  known=known_addons), name))
            elif name not in gets:
                errors.append((("addons", "values", name),
                               _error("values_without_addon", "values for '{name}', which this stack does not get; "
                                      "enable it (addons.enable) or remove these values", name=name), name))
        if stack.cluster.provider == "eks" and stack.addons.dns is None:
            for name in sorted(gets):
                identity = self.identities.get(name)
                if identity is not None and identity.hosted_zones == "required":
                    errors.append((("addons",), _error(
                        "dns_zones_required", "'{name}' needs DNS zones on eks: its AWS role may change records only "
                        "in the zones the stack names; add addons.dns.zones (e.g. [{team}.example.com])", name=name,
                        team=stack.team), None))
        # An add-on's namespace is the platform's: its controller runs there with cluster-wide rights, so a
        # team's `admin` binding in it would be cluster admin. Reserved whether or not this stack gets it.
        addon_namespaces: dict[str, str] = {}
        for addon_name, entry in sorted(self.addons.items()):
            addon_namespaces.setdefault(entry.namespace, addon_name)
        for index, namespace in enumerate(stack.namespaces):
            owner = addon_namespaces.get(namespace.name)
            if owner is not None:
                errors.append((("namespaces", index, "name"),
                               _error("addon_namespace", "namespace '{name}' belongs to the add-on '{addon}' "
                                      "(addons/catalog.yaml); pick another name", name=namespace.name, addon=owner),
                               namespace.name))
        return errors

