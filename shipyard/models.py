"""The stack-file model: one `stacks/<team>/<env>.yaml` = one Pulumi stack `<team>-<env>`.

Every field's docstring becomes its description in `schema/stack.schema.json`, which
editors show on hover — write them for the application developer editing the file.

Rules that need more than one field (provider-specific keys, node-group sizes, the
add-on catalog, the file's own name) live in model validators and raise errors
*located at the offending key*, so `shipyard validate` can print its line.
"""

from __future__ import annotations

import ipaddress
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo,
                      WithJsonSchema, field_validator, model_validator)
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo
from pydantic_core import InitErrorDetails, PydanticCustomError

from shipyard.errors import shown

ENVIRONMENTS: tuple[str, ...] = ("dev", "staging", "prod")
"""The platform's environments, in promotion order."""

SUPPORTED_KUBERNETES_VERSIONS: tuple[str, ...] = ("1.33", "1.34", "1.35", "1.36")
"""Kubernetes minors the platform supports (EKS standard support, and the local control plane's minor)."""

PROVIDERS: tuple[str, ...] = ("eks", "local", "existing")
PROVIDER_ONLY_FIELDS: dict[str, str] = {"region": "eks", "nodeGroups": "eks", "availabilityZones": "eks",
                                        "vpcCidr": "eks", "publicEndpoint": "eks", "access": "eks",
                                        "kubeconfigSecret": "existing"}
"""Cluster keys that apply to one provider only (and are errors on the others)."""
PROVIDER_REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {"eks": ("region", "kubernetesVersion", "nodeGroups")}
"""Cluster keys a provider cannot do without."""

RESERVED_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
RESERVED_TAG_KEYS = frozenset({"team", "environment", "managed-by"})

# Every pattern is matched whole (`fullmatch`: "abc\n" is not a label) and is also a JSON Schema pattern, so
# it must mean the same in Python and in ECMAScript (no \d, \s, \Z; `$` only at the very end).
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_OWNER = re.compile(r"^@[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:/[A-Za-z0-9][A-Za-z0-9._-]*)?$(?!\n)")  # nor "@x\n"
_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:@._/-]{0,252}$")
# Groups an access entry may put a principal in: never Kubernetes' own `system:` groups (system:masters is
# cluster admin, and EKS refuses them in access entries anyway).
_ACCESS_GROUP = re.compile(r"^(?!system:)[A-Za-z0-9][A-Za-z0-9:@._/-]{0,252}$")
# An IAM role (an SSO permission set's role has a path: /aws-reserved/sso.amazonaws.com/...).
_ROLE_ARN = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/([A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]{1,64}$")
# A public DNS zone: at least two labels, lower case, no trailing dot.
_ZONE = re.compile(r"^(?=.{4,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$")
# Kubernetes resource.Quantity without a sign (quotas are never negative).
_QUANTITY = re.compile(r"^\+?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE])?$")
_TAG_KEY = re.compile(r"^[A-Za-z0-9 _.:/=+\-@]{1,128}$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                        r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"


def _cidr_pattern() -> str:
    """An IPv4 network a.b.c.0/16 to /20 with no host bits set, as one regular expression: the third octet
    must be a multiple of 2**(24 - prefix), so each multiple of 16 allows the prefixes from its own upwards."""
    by_prefixes: dict[str, list[int]] = {}
    for third in range(0, 256, 16):
        lowest = max(16, 24 - ((third & -third).bit_length() - 1)) if third else 16
        by_prefixes.setdefault("|".join(str(p) for p in range(lowest, 21)), []).append(third)
    options = "|".join(f"(?:{'|'.join(map(str, thirds))})\\.0/(?:{prefixes})" for prefixes, thirds in by_prefixes.items())
    return f"^{_OCTET}\\.{_OCTET}\\.(?:{options})$"


_CIDR = re.compile(_cidr_pattern())
_KUBECONFIG_SECRET = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


def _error(kind: str, message: str, **ctx: Any) -> PydanticCustomError:
    # Every value a message repeats is shortened here, where all rule messages are made.
    ctx = {name: shown(value) if isinstance(value, str) else value for name, value in ctx.items()}
    return PydanticCustomError(kind, message, ctx or None)


def _check(pattern: re.Pattern[str], kind: str, message: str):
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise _error(kind, message, value=value)
        return value

    return check


def _dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.fullmatch(value):
        raise _error("dns_label", "'{value}' is not a DNS-1123 label: use at most 63 lower-case letters, digits "
                     "and '-', starting and ending with a letter or digit", value=value)
    return value


def _quantity(value: str | int | float) -> str:
    if isinstance(value, bool):
        raise _error("quantity", "expected a Kubernetes quantity such as \"2\", \"500m\" or \"4Gi\", got a boolean")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise _error("quantity", "'{value}' is not a finite number; write a Kubernetes quantity such as \"2\" "
                         "or \"4Gi\"", value=str(value))
        if value < 0:
            raise _error("quantity", "'{value}' is negative; quotas must be zero or more", value=str(value))
        value = str(value) if value else "0"  # -0.0 is zero
    text = value
    if text.startswith("-"):
        raise _error("quantity", "'{value}' is negative; quotas must be zero or more", value=text)
    if not _QUANTITY.fullmatch(text):
        raise _error("quantity", "'{value}' is not a Kubernetes quantity; write e.g. \"2\", \"500m\", \"512Mi\" "
                     "or \"4Gi\" (binary suffixes Ki Mi Gi Ti, decimal k M G T, milli m)", value=text)
    return text


def _access_group(value: str) -> str:
    if value.startswith("system:"):
        raise _error("access_group", "'{value}' is a Kubernetes system group (system:masters is cluster admin); map "
                     "only your namespaces' groups", value=value)
    if not _ACCESS_GROUP.fullmatch(value):
        raise _error("group", "'{value}' is not a valid group name: letters, digits and : @ . _ / - only, at most "
                     "253 characters", value=value)
    return value


def minor_of(version: str) -> tuple[int, int]:
    """`"1.34"` -> (1, 34)."""
    major, _, minor = version.partition(".")
    return int(major), int(minor)


def minor_steps(applied: str, target: str) -> list[str]:
    """The Kubernetes minors an upgrade from `applied` to `target` passes through, `target` last
    (`1.33` -> `1.35`: ["1.34", "1.35"]); empty when `target` is not newer."""
    (major, low), (target_major, high) = minor_of(applied), minor_of(target)
    if major != target_major or high <= low:
        return []
    return [f"{major}.{minor}" for minor in range(low + 1, high + 1)]


def _kubernetes_version(value: str) -> str:
    if value not in SUPPORTED_KUBERNETES_VERSIONS:
        raise _error("kubernetes_version", "Kubernetes version '{value}' is not supported; use one of: {supported}",
                     value=value, supported=", ".join(SUPPORTED_KUBERNETES_VERSIONS))
    return value


_BINARY_SUFFIX = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60}
_DECIMAL_SUFFIX = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "k": Decimal(10 ** 3),
                   "M": Decimal(10 ** 6), "G": Decimal(10 ** 9), "T": Decimal(10 ** 12), "P": Decimal(10 ** 15),
                   "E": Decimal(10 ** 18)}


def quantity_value(quantity: str) -> Decimal:
    """The amount a (valid) Kubernetes quantity stands for: `"500m"` -> 0.5, `"4Gi"` -> 4294967296."""
    text = quantity.lstrip("+")
    for suffix, factor in _BINARY_SUFFIX.items():
        if text.endswith(suffix):
            return Decimal(text[:-2]) * factor
    if text[-1:] in _DECIMAL_SUFFIX:
        return Decimal(text[:-1]) * _DECIMAL_SUFFIX[text[-1]]
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - `_quantity` accepted it
        raise ValueError(f"not a quantity: {quantity}") from None


def _cidr(value: str) -> str:
    if _CIDR.fullmatch(value):  # the JSON Schema's pattern: the editor and CI accept exactly the same
        return value
    try:
        net = ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        try:
            loose = ipaddress.IPv4Network(value, strict=False)
        except ValueError:
            raise _error("cidr", "'{value}' is not an IPv4 network in CIDR form such as 10.0.0.0/16",
                         value=value) from None
        raise _error("cidr", "'{value}' has host bits set; the network is {network}", value=value,
                     network=str(loose)) from None
    if not 16 <= net.prefixlen <= 20:
        raise _error("cidr", "'{value}' must be between /16 and /20 so every zone gets public and private subnets",
                     value=value)
    raise _error("cidr", "write '{value}' as a.b.c.d/NN without leading zeros, e.g. {network}", value=value,
                 network=str(net))


def _whole_number(value: Any) -> Any:
    """`2.0` and `1e3` are whole numbers, as in JSON (and so in the editor): accept them as 2 and 1000."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


def _pattern(pattern: str, message: str, **extra: Any) -> dict[str, Any]:
    """The JSON Schema of a string type: its pattern and the message editors show instead of the pattern."""
    return {"type": "string", "pattern": pattern, "patternErrorMessage": message, **extra}


# The named types: each carries its CI check and its JSON Schema (what editors check, with their message).
DnsLabel = Annotated[str, AfterValidator(_dns_label), WithJsonSchema(_pattern(
    r"^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
    "A DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit"))]
"""A DNS-1123 label: lower-case letters, digits and '-', at most 63 characters."""
Quantity = Annotated[str | int | float, AfterValidator(_quantity), WithJsonSchema({
    "type": ["string", "number"], "pattern": _QUANTITY.pattern, "minimum": 0, "maximum": 1.7976931348623157e308,
    "errorMessage": "A Kubernetes quantity, zero or more: e.g. \"2\", 500m, 512Mi, 4Gi or 100 (binary suffixes Ki Mi "
                    "Gi Ti, decimal k M G T, milli m)"})]
"""A non-negative Kubernetes quantity (`"16"`, `500m`, `32Gi`, `100`)."""
KubernetesVersion = Annotated[str, AfterValidator(_kubernetes_version), WithJsonSchema({
    "type": "string", "enum": list(SUPPORTED_KUBERNETES_VERSIONS),
    "errorMessage": "A supported Kubernetes minor, quoted: " + ", ".join(f'"{v}"' for v in SUPPORTED_KUBERNETES_VERSIONS)
                    + " (unquoted, 1.34 is a number)"})]
Owner = Annotated[str, AfterValidator(_check(_OWNER, "owner", "'{value}' is not a GitHub user or team; write "
                                             "'@user' or '@org/team'")),
                  WithJsonSchema(_pattern(_OWNER.pattern, "A GitHub user or team: '@user' or '@org/team'"))]
GroupName = Annotated[str, AfterValidator(_check(_GROUP, "group", "'{value}' is not a valid group name: letters, "
                                                 "digits and : @ . _ / - only, at most 253 characters")),
                      WithJsonSchema(_pattern(_GROUP.pattern, "A group name: letters, digits and : @ . _ / - only, "
                                                              "at most 253 characters"))]
AccessGroup = Annotated[str, AfterValidator(_access_group), WithJsonSchema(_pattern(
    _ACCESS_GROUP.pattern, "A group one of your namespaces binds (admins, developers, viewers): letters, digits and "
                           ": @ . _ / - only; never a Kubernetes 'system:' group"))]
"""A Kubernetes group an EKS access entry puts principals in (never `system:...`)."""
IamRoleArn = Annotated[str, AfterValidator(_check(_ROLE_ARN, "role_arn", "'{value}' is not an IAM role ARN such as "
                                                  "arn:aws:iam::111122223333:role/ledger-devs")),
                       WithJsonSchema(_pattern(_ROLE_ARN.pattern, "An IAM role ARN such as "
                                                                  "arn:aws:iam::111122223333:role/ledger-devs"))]
"""An IAM role ARN: `arn:aws:iam::<12-digit account>:role/[path/]<name>`."""
ZoneName = Annotated[str, AfterValidator(_check(_ZONE, "zone", "'{value}' is not a DNS zone name such as "
                                                "ledger.example.com (lower case, no trailing dot)")),
                     WithJsonSchema(_pattern(_ZONE.pattern, "A DNS zone name such as ledger.example.com: lower-case "
                                                            "labels separated by dots, no trailing dot"))]
"""A public Route 53 hosted zone, by its name (`ledger.example.com`)."""
Region = Annotated[str, AfterValidator(_check(_REGION, "region", "'{value}' is not an AWS region name such as "
                                              "eu-west-1")),
                   WithJsonSchema(_pattern(_REGION.pattern, "An AWS region name such as eu-west-1"))]
InstanceType = Annotated[str, AfterValidator(_check(_INSTANCE_TYPE, "instance_type", "'{value}' is not an EC2 "
                                                    "instance type such as m6i.large")),
                         WithJsonSchema(_pattern(_INSTANCE_TYPE.pattern, "An EC2 instance type such as m6i.large"))]
Cidr = Annotated[str, AfterValidator(_cidr), WithJsonSchema(_pattern(
    _CIDR.pattern, "An IPv4 network from /16 to /20 with no host bits set, e.g. 10.0.0.0/16 or 10.20.0.0/18"))]
TagKey = Annotated[str, AfterValidator(_check(_TAG_KEY, "tag_key", "'{value}' is not a valid AWS tag key "
                                              "(1-128 letters, digits, spaces and _ . : / = + - @)")),
                   WithJsonSchema(_pattern(_TAG_KEY.pattern, "An AWS tag key: 1-128 letters, digits, spaces and "
                                                             "_ . : / = + - @"))]
TagValue = Annotated[str, Field(max_length=256)]
LabelKey = Annotated[str, AfterValidator(_check(_LABEL_KEY, "label_key", "'{value}' is not a valid Kubernetes "
                                                "label key")),
                     WithJsonSchema(_pattern(_LABEL_KEY.pattern, "A Kubernetes label key: an optional DNS prefix and "
                                                                 "'/', then at most 63 letters, digits, '-', '_', '.'"))]
LabelValue = Annotated[str, AfterValidator(_check(_LABEL_VALUE, "label_value", "'{value}' is not a valid "
                                                  "Kubernetes label value (at most 63 characters)")),
                       WithJsonSchema(_pattern(_LABEL_VALUE.pattern, "A Kubernetes label value: at most 63 letters, "
                                                                     "digits, '-', '_', '.', starting and ending with "
                                                                     "a letter or digit"))]
KubeconfigSecret = Annotated[str, AfterValidator(_check(_KUBECONFIG_SECRET, "kubeconfig_secret", "'{value}' is not "
                                                        "a Pulumi config key: a letter, then letters, digits, "
                                                        "'_', '.', '-'")),
                             WithJsonSchema(_pattern(_KUBECONFIG_SECRET.pattern, "A Pulumi config key: a letter, "
                                                                                 "then letters, digits, '_', '.', "
                                                                                 "'-'"))]
Count = Annotated[int, BeforeValidator(_whole_number)]
"""A whole number; `2.0` counts as 2 (JSON, and so the editor, cannot tell them apart)."""

_ACRONYMS = {"cpu": "CPU", "vpc": "VPC", "cidr": "CIDR", "gib": "(GiB)", "addons": "Add-ons", "aws": "AWS",
             "dns": "DNS"}


def field_title(name: str, info: FieldInfo) -> str:
    """`vpc_cidr` -> "VPC CIDR", `disk_size_gib` -> "Disk size (GiB)": the title editors show on hover."""
    words = [_ACRONYMS.get(word, word) for word in name.split("_")]
    first = words[0] if words[0] != words[0].lower() else words[0].capitalize()
    return " ".join([first, *words[1:]])


def _located(model: str, errors: list[tuple[tuple[str | int, ...], PydanticCustomError, Any]]) -> None:
    """Raise every cross-field error at once, each located at its own key."""
    if errors:
        raise ValidationError.from_exception_data(
            model, [InitErrorDetails(type=err, loc=loc, input=value) for loc, err, value in errors])


class _Model(BaseModel):
    # strict: YAML already has types; "3" must not quietly become 3, nor 1.33 become "1.33".
    # Field docstrings are turned into schema descriptions by `shipyard.schema` (not by pydantic's
    # use_attribute_docstrings, which re-reads the source on every import and costs `validate` ~0.1 s).
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, alias_generator=to_camel,
                              populate_by_name=False, field_title_generator=field_title)

    @field_validator("*", mode="before")
    @classmethod
    def _given(cls, value: Any, info: ValidationInfo) -> Any:
        # `region:` with nothing after it is null: not "unset" (editors reject it too), but a half-written key.
        if value is None and info.field_name is not None and cls.model_fields[info.field_name].default is None:
            raise _error("empty", "has no value (null); give it one or remove the key")
        return value


class NodeGroup(_Model):
    """An EKS managed node group."""

    name: DnsLabel
    """Node group name, unique within the cluster (DNS-1123 label)."""
    instance_type: InstanceType
    """EC2 instance type of the nodes, e.g. `m6i.large`."""
    min_size: Count = Field(ge=0, le=1000)
    """Fewest nodes the group runs (0-1000): the autoscaler never scales below it."""
    desired_size: Count = Field(ge=0, le=1000)
    """Nodes the group runs, between minSize and maxSize. Without an autoscaler this is the group's size and
    every change applies; with one (the stack gets the `cluster-autoscaler` add-on) it is only the size a new
    or replacement group starts with: the autoscaler owns the live size, and changes are ignored."""
    max_size: Count = Field(ge=1, le=1000)
    """Most nodes the group may grow to (1-1000)."""
    disk_size_gib: Count = Field(default=50, ge=20, le=16384)
    """Root volume size per node in GiB (20-16384)."""
    capacity_type: Literal["ON_DEMAND", "SPOT"] = "ON_DEMAND"
    """`ON_DEMAND` or `SPOT` capacity."""
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    """Kubernetes labels put on every node of the group."""

    @model_validator(mode="after")
    def _sizes(self) -> NodeGroup:
        errors = []
        if self.min_size > self.desired_size:
            errors.append((("minSize",), _error("node_group_size", "minSize ({min}) is larger than desiredSize "
                                                "({desired}); need minSize <= desiredSize <= maxSize",
                                                min=self.min_size, desired=self.desired_size), self.min_size))
        if self.desired_size > self.max_size:
            errors.append((("desiredSize",), _error("node_group_size", "desiredSize ({desired}) is larger than "
                                                    "maxSize ({max}); need minSize <= desiredSize <= maxSize",
                                                    desired=self.desired_size, max=self.max_size), self.desired_size))
        _located("NodeGroup", errors)
        return self


class ClusterAccess(_Model):
    """Who may use the cluster (*eks only*): each of the stack's groups mapped to the IAM roles whose users belong
    to it, through EKS access entries. The namespaces' RoleBindings then give those groups their rights."""

    groups: dict[AccessGroup, Annotated[list[IamRoleArn], Field(min_length=1, max_length=20)]] = Field(
        default_factory=dict, max_length=50)
    """Group (one your namespaces bind as admins, developers or viewers) -> the IAM role ARNs in it."""


class Cluster(_Model):
    """Which cluster the team gets. Fields marked *eks only* are rejected for other providers."""

    provider: Literal["eks", "local", "existing"]
    """`eks`: a new AWS EKS cluster; `existing`: a cluster you already run (kubeconfig from a Pulumi secret);
    `local`: the local control plane started by `shipyard local up`."""
    region: Region | None = None
    """AWS region (*eks only*, required there), e.g. `eu-west-1`."""
    kubernetes_version: KubernetesVersion | None = None
    """Kubernetes minor as a quoted string, e.g. `"1.33"`. Required for eks; for local it must match the local
    control plane; for existing it is informational."""
    node_groups: list[NodeGroup] | None = Field(default=None, min_length=1, max_length=20)
    """Managed node groups (*eks only*, at least one there). Names must be unique."""
    availability_zones: Count = Field(default=3, ge=2, le=6)
    """Availability zones the VPC spans (*eks only*, 2-6, default 3)."""
    vpc_cidr: Cidr = "10.0.0.0/16"
    """IPv4 range of the VPC (*eks only*, /16 to /20, default `10.0.0.0/16`)."""
    public_endpoint: bool = False
    """Expose the Kubernetes API endpoint to the internet (*eks only*, default false: private endpoint)."""
    access: ClusterAccess | None = None
    """*eks only*: which IAM roles are in the groups your namespaces bind (EKS access entries)."""
    kubeconfig_secret: KubeconfigSecret = "kubeconfig"
    """*existing only*: name of the Pulumi **secret** config value holding the kubeconfig
    (default `kubeconfig`, i.e. `pulumi config set --secret kubeconfig ...`)."""

    @model_validator(mode="after")
    def _provider_fields(self) -> Cluster:
        errors = []
        for key, owner in PROVIDER_ONLY_FIELDS.items():
            value = getattr(self, to_snake(key))
            if to_snake(key) in self.model_fields_set and self.provider != owner:
                errors.append(((key,), _error("provider_field", "'{key}' does not apply to provider '{provider}' "
                                              "(only to '{owner}'); remove it", key=key, provider=self.provider,
                                              owner=owner), value))
        for key in PROVIDER_REQUIRED_FIELDS.get(self.provider, ()):
            if getattr(self, to_snake(key)) is None:
                errors.append(((key,), _error("provider_required", "'{key}' is required for provider '{provider}'; "
                                              "add it", key=key, provider=self.provider), None))
        seen: dict[str, int] = {}
        for index, group in enumerate(self.node_groups or ()):
            if group.name in seen:
                errors.append((("nodeGroups", index, "name"),
                               _error("duplicate", "node group name '{name}' is already used by nodeGroups[{first}]; "
                                      "names must be unique", name=group.name, first=seen[group.name]), group.name))
            seen.setdefault(group.name, index)
        _located("Cluster", errors)
        return self


class NamespaceQuota(_Model):
    """Hard limits for everything running in the namespace (a ResourceQuota)."""

    cpu: Quantity
    """Total CPU requests, e.g. `"16"` or `"500m"`."""
    memory: Quantity
    """Total memory requests, e.g. `32Gi`."""
    pods: Quantity
    """Maximum number of pods, e.g. `100`."""


class Namespace(_Model):
    """A namespace the team owns, with its quota and who may do what in it."""

    name: DnsLabel
    """Namespace name: a DNS-1123 label starting with the team name (e.g. `ledger-api`), unique in the file."""
    quota: NamespaceQuota | None = None
    """Resource quota of the namespace. Omit it to get the environment's default quota (`defaultQuota` in
    `policy.yaml`); the environment's `maxQuota` caps what you may ask for."""
    admins: list[GroupName] = Field(default_factory=list)
    """Groups bound to the namespace `admin` role (manage everything in the namespace, including RBAC)."""
    developers: list[GroupName] = Field(default_factory=list)
    """Groups bound to the `edit` role (deploy and change workloads)."""
    viewers: list[GroupName] = Field(default_factory=list)
    """Groups bound to the `view` role (read-only, no secrets)."""


class DnsZones(_Model):
    """The Route 53 hosted zones the stack's DNS add-ons may change (*eks*: their roles are scoped to them)."""

    zones: list[ZoneName] = Field(min_length=1, max_length=20)
    """Public hosted zones by name, e.g. `ledger.example.com`; unique. external-dns manages records in these
    only, and cert-manager answers DNS-01 challenges there."""


class Addons(_Model):
    """Add-ons from the platform catalog (`addons/catalog.yaml`), installed with pinned Helm charts."""

    bundles: list[str] = Field(default_factory=list)
    """Bundles from the catalog, e.g. `baseline` (ingress-nginx, cert-manager, metrics-server),
    `observability` (kube-prometheus-stack), `gitops` (argo-cd)."""
    enable: list[str] = Field(default_factory=list)
    """Single add-ons from the catalog, on top of the bundles."""
    disable: list[str] = Field(default_factory=list)
    """Add-ons a bundle brought that this stack does not want."""
    values: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Helm values per add-on, deep-merged over the catalog defaults. Only for add-ons this stack gets."""
    dns: DnsZones | None = None
    """DNS zones for the DNS add-ons (external-dns needs them on eks: its AWS role is scoped to them)."""


class StackFile(_Model):
    """A team's desired state for one environment: `stacks/<team>/<env>.yaml` is Pulumi stack `<team>-<env>`."""

    team: DnsLabel
    """The team that owns this file; must equal the folder name."""
    environment: Literal["dev", "staging", "prod"]
    """One of the platform's environments (`dev`, `staging`, `prod`); must equal the file name."""
    owners: list[Owner] = Field(min_length=1)
    """GitHub users (`@user`) or teams (`@org/team`) who own this file and review changes to it."""
    cluster: Cluster
    """The cluster this stack runs on."""
    addons: Addons = Field(default_factory=Addons)
    """Platform add-ons for the cluster."""
    namespaces: list[Namespace] = Field(default_factory=list)
    """The team's namespaces, each with quota, access and a default-deny network policy."""
    tags: dict[TagKey, TagValue] = Field(default_factory=dict, max_length=40)
    """Extra AWS tags added to every cloud resource (team, environment and managed-by are always set)."""

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> StackFile:
        ctx = info.context or {}
        errors: list[tuple[tuple[str | int, ...], PydanticCustomError, Any]] = []
        folder, filename = ctx.get("folder"), ctx.get("filename")
        if folder is not None and self.team != folder:
            errors.append((("team",), _error("team_mismatch", "team '{team}' does not match the folder "
                                             "'stacks/{folder}/'; set team: {folder} or move the file",
                                             team=self.team, folder=folder), self.team))
        if filename is not None and self.environment != filename:
            errors.append((("environment",), _error("environment_mismatch", "environment '{env}' does not match the "
                                                    "file name '{filename}.yaml'; set environment: {filename} or "
                                                    "rename the file", env=self.environment, filename=filename),
                           self.environment))
        seen: dict[str, int] = {}
        for index, ns in enumerate(self.namespaces):
            loc = ("namespaces", index, "name")
            if ns.name in seen:
                errors.append((loc, _error("duplicate", "namespace '{name}' is already declared at namespaces[{first}]; "
                                           "names must be unique", name=ns.name, first=seen[ns.name]), ns.name))
            seen.setdefault(ns.name, index)
            if ns.name in RESERVED_NAMESPACES:
                errors.append((loc, _error("reserved", "namespace '{name}' is reserved by Kubernetes; pick a name "
                                           "starting with '{team}-'", name=ns.name, team=self.team), ns.name))
            elif ns.name != self.team and not ns.name.startswith(self.team + "-"):
                errors.append((loc, _error("namespace_prefix", "namespace '{name}' must start with the team name "
                                           "('{team}-...') so teams never collide", name=ns.name, team=self.team),
                               ns.name))
        for key in self.tags:
            if key in RESERVED_TAG_KEYS:
                errors.append((("tags", key), _error("reserved", "tag '{key}' is set by the platform; remove it",
                                                     key=key), key))
        errors += self._access_checks()
        if self.addons.dns is not None:
            first: dict[str, int] = {}
            for index, zone in enumerate(self.addons.dns.zones):
                if zone in first:
                    errors.append((("addons", "dns", "zones", index), _error(
                        "duplicate", "zone '{zone}' is already listed at zones[{first}]; zone names must be unique",
                        zone=zone, first=first[zone]), zone))
                first.setdefault(zone, index)
        applied = ctx.get("applied_kubernetes_version")
        if applied is not None and self.cluster.provider == "eks" and self.cluster.kubernetes_version:
            errors += _upgrade_step(self.cluster.kubernetes_version, applied)
        catalog = ctx.get("catalog")
        if catalog is not None:
            errors.extend(catalog.check_stack(self))
        if self.cluster.provider == "local" and self.cluster.kubernetes_version is not None:
            local_minor = ctx.get("local_kubernetes_minor")
            if local_minor is not None and self.cluster.kubernetes_version != local_minor:
                errors.append((("cluster", "kubernetesVersion"),
                               _error("kubernetes_version", "the local control plane runs Kubernetes {local}; set "
                                      "kubernetesVersion: \"{local}\" or remove the key", local=local_minor),
                               self.cluster.kubernetes_version))
        policy = ctx.get("policy")
        if policy is not None and not errors:
            # Only on an otherwise valid file: the rules depend on its environment, and required add-ons
            # and the cost on a consistent add-on selection.
            errors.extend(policy.check_stack(self, catalog, ctx.get("prices")))
        _located("StackFile", errors)
        return self

    def _access_checks(self) -> list[tuple[tuple[str | int, ...], PydanticCustomError, Any]]:
        """Every mapped group is one a namespace binds (else the access entry grants nothing), and a role is
        listed once per group."""
        access = self.cluster.access
        if access is None:
            return []
        bound = {group for ns in self.namespaces for group in (*ns.admins, *ns.developers, *ns.viewers)}
        errors: list[tuple[tuple[str | int, ...], PydanticCustomError, Any]] = []
        for group, roles in access.groups.items():
            if group not in bound:
                errors.append((("cluster", "access", "groups", group), _error(
                    "access_group_unbound", "group '{group}' is bound by no namespace (admins, developers or viewers),"
                    " so its access entries would grant nothing; bind it in a namespace or remove it", group=group),
                    group))
            seen: dict[str, int] = {}
            for index, role in enumerate(roles):
                if role in seen:
                    errors.append((("cluster", "access", "groups", group, index), _error(
                        "duplicate", "role '{role}' is already listed at [{first}]; role ARNs in a group must be "
                        "unique", role=role, first=seen[role]), role))
                seen.setdefault(role, index)
        return errors

    @property
    def stack_name(self) -> str:
        return f"{self.team}-{self.environment}"


def _upgrade_step(version: str, applied: tuple[str, str]) -> list[tuple[tuple[str | int, ...], Any, Any]]:
    """EKS moves a cluster one Kubernetes minor per update and never back: `version` against `applied`, the version
    last applied and where that was read from (the stack's state, or the file at a git revision)."""
    applied_version, source = applied
    if version == applied_version:
        return []
    loc = ("cluster", "kubernetesVersion")
    steps = minor_steps(applied_version, version)
    if not steps:
        return [(loc, _error("kubernetes_downgrade", "kubernetesVersion {value} is older than {applied}, the version "
                             "last applied ({source}); EKS cannot downgrade a cluster: keep \"{applied}\"",
                             value=version, applied=applied_version, source=source), version)]
    if len(steps) == 1:
        return []
    path = ", then ".join(f'"{step}"' for step in steps[:-1])
    return [(loc, _error("kubernetes_upgrade_step", "kubernetesVersion {value} is {count} minor versions after "
                         "{applied}, the version last applied ({source}); EKS upgrades one minor at a time: set and "
                         "apply {path} first (one update each), then \"{value}\"", value=version, count=len(steps),
                         applied=applied_version, source=source, path=path), version)]


def to_snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()
