"""The stack file's JSON Schema: what editors check as you type (`shipyard schema`, committed at
`schema/stack.schema.json`).

It is generated from the models (types, patterns and their messages, docstrings as descriptions), the
add-on catalog (add-on and bundle names, which bundle brings which add-on, add-on namespaces) and
`policy.yaml` (per environment: regions, instance types, Kubernetes versions, nodes per group, required
add-ons), so a catalog or policy change regenerates it. Every rule `shipyard validate` checks that a
JSON Schema can express is in it, with the message editors show (`errorMessage`, `patternErrorMessage`:
the yaml-language-server's extensions); the others are listed in the README under "checked only by CI",
and `tests/shipyard/test_editor_parity.py` holds the two to that.

Three constraints shape it. Editors offer every key of every schema that applies, so a key of one provider
lives only in that provider's branch (`if provider == eks then EksCluster`), and rule-only branches mark
their keys `doNotSuggest`. A `not` shows no message of its own, so "anything but these" is a
negative-lookahead `pattern` with a `patternErrorMessage`. And editors mark a refused value on its
value's first line but a refused key on its own, so keys that must go are refused by `propertyNames`.
"""

from __future__ import annotations

import ast
import inspect
import sys
import types
import typing
from typing import TYPE_CHECKING, Any

import annotated_types
from pydantic import BaseModel, TypeAdapter
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from shipyard.models import (ENVIRONMENTS, PROVIDER_ONLY_FIELDS, PROVIDER_REQUIRED_FIELDS, PROVIDERS,
                             RESERVED_NAMESPACES, RESERVED_TAG_KEYS, Addons, Cluster, ClusterAccess, DnsZones,
                             Namespace, NamespaceQuota, NodeGroup, StackFile, field_title)

if TYPE_CHECKING:
    from shipyard.catalog import Catalog
    from shipyard.policy import EnvironmentPolicy, Policy

SCHEMA_ID = "https://shipyard.dev/schema/stack.schema.json"
MODELS: tuple[type[BaseModel], ...] = (StackFile, Cluster, ClusterAccess, NodeGroup, Namespace, NamespaceQuota, Addons,
                                       DnsZones)
TITLES = {"StackFile": "Shipyard stack file", "NodeGroup": "Node group", "NamespaceQuota": "Namespace quota",
          "Addons": "Add-ons", "ClusterAccess": "Cluster access", "DnsZones": "DNS zones"}
"""Titles of the definitions where the class name is not one."""
PROVIDER_DEFS = {provider: f"{provider.capitalize()}Cluster" for provider in PROVIDERS}

# A short example per field, shown under its description on hover and in completion (by model and key).
EXAMPLES: dict[tuple[str, str], str] = {
    ("StackFile", "team"): "team: ledger",
    ("StackFile", "environment"): "environment: prod",
    ("StackFile", "owners"): 'owners: ["@acme/ledger", "@jdoe"]',
    ("StackFile", "cluster"): 'cluster:\n  provider: eks\n  region: eu-west-1\n  kubernetesVersion: "1.33"\n'
                              "  nodeGroups:\n    - {name: general, instanceType: m6i.large, minSize: 2, "
                              "desiredSize: 3, maxSize: 6}",
    ("StackFile", "addons"): "addons:\n  bundles: [baseline, observability]\n  enable: [external-dns]",
    ("StackFile", "namespaces"): "namespaces:\n  - name: ledger-api\n    quota: {cpu: \"16\", memory: 32Gi, pods: 100}"
                                 "\n    admins: [ledger-leads]",
    ("StackFile", "tags"): "tags: {costCenter: cc-4411}",
    ("Cluster", "provider"): "provider: eks",
    ("Cluster", "region"): "region: eu-west-1",
    ("Cluster", "kubernetesVersion"): 'kubernetesVersion: "1.33"',
    ("Cluster", "nodeGroups"): "nodeGroups:\n  - {name: general, instanceType: m6i.large, minSize: 2, desiredSize: 3, "
                               "maxSize: 6}",
    ("Cluster", "availabilityZones"): "availabilityZones: 3",
    ("Cluster", "vpcCidr"): "vpcCidr: 10.20.0.0/16",
    ("Cluster", "publicEndpoint"): "publicEndpoint: false",
    ("Cluster", "kubeconfigSecret"): "kubeconfigSecret: kubeconfig-ledger-dev",
    ("Cluster", "access"): 'access:\n  groups:\n    ledger-devs: ["arn:aws:iam::111122223333:role/ledger-devs"]',
    ("ClusterAccess", "groups"): 'groups:\n  ledger-leads: ["arn:aws:iam::111122223333:role/ledger-leads"]\n'
                                 '  ledger-devs:\n    - arn:aws:iam::111122223333:role/ledger-devs',
    ("NodeGroup", "name"): "name: general",
    ("NodeGroup", "instanceType"): "instanceType: m6i.large",
    ("NodeGroup", "minSize"): "minSize: 2",
    ("NodeGroup", "desiredSize"): "desiredSize: 3",
    ("NodeGroup", "maxSize"): "maxSize: 6",
    ("NodeGroup", "diskSizeGib"): "diskSizeGib: 100",
    ("NodeGroup", "capacityType"): "capacityType: SPOT",
    ("NodeGroup", "labels"): "labels: {workload: batch}",
    ("Namespace", "name"): "name: ledger-api",
    ("Namespace", "quota"): 'quota: {cpu: "16", memory: 32Gi, pods: 100}',
    ("Namespace", "admins"): "admins: [ledger-leads]",
    ("Namespace", "developers"): "developers: [ledger-devs]",
    ("Namespace", "viewers"): "viewers: [support]",
    ("NamespaceQuota", "cpu"): 'cpu: "16"',
    ("NamespaceQuota", "memory"): "memory: 32Gi",
    ("NamespaceQuota", "pods"): "pods: 100",
    ("Addons", "bundles"): "bundles: [baseline, observability]",
    ("Addons", "enable"): "enable: [external-dns]",
    ("Addons", "disable"): "disable: [cert-manager]",
    ("Addons", "values"): "values:\n  ingress-nginx:\n    controller: {replicaCount: 2}",
    ("Addons", "dns"): "dns:\n  zones: [ledger.example.com]",
    ("DnsZones", "zones"): "zones: [ledger.example.com, ledger.example.org]",
}


def stack_json_schema(catalog: Catalog, policy: Policy, local_kubernetes_minor: str | None) -> dict[str, Any]:
    """The JSON Schema of a stack file for this catalog, policy and local control plane."""
    defs = {model.__name__: _model_schema(model) for model in MODELS}
    root = defs.pop("StackFile")
    defs.update(_provider_clusters(defs["Cluster"], local_kubernetes_minor))
    _catalog_rules(defs, catalog)
    tag_keys = root["properties"]["tags"]["propertyNames"]
    root["properties"]["tags"]["propertyNames"] = {"allOf": [tag_keys, none_of(
        RESERVED_TAG_KEYS, "Set by the platform (" + ", ".join(sorted(RESERVED_TAG_KEYS)) + "); remove it")]}
    root["allOf"] = [_environment_rules(env, policy.environments[env], catalog) for env in ENVIRONMENTS
                     if env in policy.environments]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **root, "$defs": defs}


# -- the models ------------------------------------------------------------------------------------
def _model_schema(model: type[BaseModel]) -> dict[str, Any]:
    class_doc, docs = _docstrings(model)
    properties = {}
    for name, info in model.model_fields.items():
        alias = info.alias or name
        prop = {"title": info.title or field_title(name, info)}
        _describe(prop, docs.get(name, ""), EXAMPLES.get((model.__name__, alias)))
        prop.update(_field_type(info))
        _type_message(prop)
        default = info.default
        if default is not PydanticUndefined and default is not None and isinstance(default, (str, int, float, bool)):
            prop["default"] = default  # only real scalar defaults: completion inserts them
        properties[alias] = prop
    schema: dict[str, Any] = {"title": TITLES.get(model.__name__, model.__name__), "type": "object"}
    if class_doc:
        schema["description"] = class_doc
    schema["additionalProperties"] = False
    schema["properties"] = properties
    required = [info.alias or name for name, info in model.model_fields.items() if info.is_required()]
    if required:
        schema["required"] = required
    return schema


def _field_type(info: FieldInfo) -> dict[str, Any]:
    return _type(info.annotation, list(info.metadata))


def _type(annotation: Any, metadata: list[Any]) -> dict[str, Any]:
    """The JSON Schema of a type: models by reference, containers here, named types as they declare."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(members) == 1:  # optional: an absent key, never null (the models refuse an empty value)
            return _type(members[0], metadata)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {"$ref": f"#/$defs/{annotation.__name__}"}
    if origin is list:
        schema: dict[str, Any] = {"type": "array", "items": _type(typing.get_args(annotation)[0], [])}
        return _sized(schema, metadata, "minItems", "maxItems")
    if origin is dict:
        key, value = typing.get_args(annotation)
        schema = {"type": "object"}
        if key is not str:
            names = dict(_type(key, []))
            names.pop("type", None)
            schema["propertyNames"] = names
        values = _type(value, [])
        if values != {"type": "object"}:  # values of any shape: nothing to say
            schema["additionalProperties"] = values
        return _sized(schema, metadata, "minProperties", "maxProperties")
    if annotation is Any:
        return {}
    return TypeAdapter(typing.Annotated[annotation, *metadata] if metadata else annotation).json_schema()


def _type_message(prop: dict[str, Any]) -> None:
    """What editors say for a value of the wrong type, instead of `Incorrect type. Expected "boolean".`"""
    if prop.get("type") == "boolean":
        prop["errorMessage"] = ("true or false (YAML 1.2, which editors and Shipyard read, has no other booleans: "
                                "yes, no, on and off are strings)")
    elif "enum" in prop and "errorMessage" not in prop:
        prop["errorMessage"] = "One of: " + ", ".join(str(value) for value in prop["enum"])
    elif prop.get("type") == "integer" and "minimum" in prop and "maximum" in prop:
        prop["errorMessage"] = f"A whole number from {prop['minimum']} to {prop['maximum']}"


def _sized(schema: dict[str, Any], metadata: list[Any], low: str, high: str) -> dict[str, Any]:
    for item in metadata:
        if isinstance(item, annotated_types.MinLen):
            schema[low] = item.min_length
        elif isinstance(item, annotated_types.MaxLen):
            schema[high] = item.max_length
    return schema


def _describe(prop: dict[str, Any], description: str, example: str | None) -> None:
    """`description` for every client, `markdownDescription` (with the example) for the editors that render it."""
    if not description:
        return
    prop["description"] = description
    prop["markdownDescription"] = description + (f"\n\n```yaml\n{example}\n```" if example else "")


def _docstrings(model: type[BaseModel]) -> tuple[str | None, dict[str, str]]:
    """A class's docstring and its fields' (the string right under `name: type`)."""
    tree = ast.parse(inspect.getsource(sys.modules[model.__module__]))
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == model.__name__)
    fields: dict[str, str] = {}
    for stmt, after in zip(node.body, node.body[1:]):
        if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str)):
            fields[stmt.target.id] = inspect.cleandoc(after.value.value)
    return ast.get_docstring(node), fields


# -- helpers for rules ----------------------------------------------------------------------------
_SYNTAX = set("^$\\.*+?()[]{}|/")


def _literal(text: str) -> str:
    """`text` as a regular expression meaning the same in Python and in ECMAScript's unicode mode (where
    escaping anything but syntax characters, `-` included, is an error)."""
    return "".join("\\" + char if char in _SYNTAX else char for char in text)


def none_of(names: typing.Iterable[str], message: str) -> dict[str, Any]:
    """A string that is none of `names`, with `message` when it is."""
    return {"pattern": "^(?!(?:" + "|".join(_literal(n) for n in sorted(names)) + ")$)", "patternErrorMessage": message}


def _contains(key: str, values: list[str]) -> dict[str, Any]:
    """The object has `key`, a list holding one of `values`."""
    item = {"const": values[0]} if len(values) == 1 else {"enum": values}
    return {"required": [key], "properties": {key: {"contains": item}}}


def _quoted(names: typing.Iterable[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


# -- provider branches ------------------------------------------------------------------------------
def _provider_clusters(cluster: dict[str, Any], local_minor: str | None) -> dict[str, dict[str, Any]]:
    """Split `Cluster` into one definition per provider, chosen by `if provider == ...`: each offers and
    accepts only its own keys; another provider's key is an error that says whose it is."""
    properties = cluster["properties"]
    variants = {}
    for provider in PROVIDERS:
        own: dict[str, Any] = {}
        foreign = []
        for key, prop in properties.items():
            owner = PROVIDER_ONLY_FIELDS.get(key)
            if owner is None or owner == provider:
                own[key] = prop
            else:  # refused by name (so the key's own line is marked), never offered
                message = f"'{key}' does not apply to provider '{provider}' (only to '{owner}'); remove it"
                own[key] = {"description": message, "doNotSuggest": True}
                foreign.append(none_of([key], message))
        if provider == "local" and local_minor is not None:
            version = own["kubernetesVersion"]
            own["kubernetesVersion"] = {
                **version, "enum": [local_minor],
                "markdownDescription": version["markdownDescription"].replace(
                    EXAMPLES[("Cluster", "kubernetesVersion")], f'kubernetesVersion: "{local_minor}"'),
                "errorMessage": f'The local control plane runs Kubernetes {local_minor}: write "{local_minor}" '
                                "(quoted) or remove the key"}
        variants[PROVIDER_DEFS[provider]] = {
            "title": f"{provider} cluster", "type": "object", "additionalProperties": False, "properties": own,
            "propertyNames": {"allOf": foreign},
            "required": ["provider", *PROVIDER_REQUIRED_FIELDS.get(provider, ())]}
    provider = properties["provider"]
    provider["errorMessage"] = "One of: " + ", ".join(PROVIDERS)
    provider["markdownEnumDescriptions"] = [
        "a new AWS EKS cluster: needs `region`, `kubernetesVersion` and `nodeGroups`",
        "the local control plane started by `shipyard local up`",
        "a cluster you already run; its kubeconfig comes from a Pulumi secret (`kubeconfigSecret`)"]
    cluster["properties"] = {"provider": provider}
    cluster.pop("additionalProperties")  # the provider branch decides which keys belong
    cluster["required"] = ["provider"]
    # `type` in the condition: a cluster that is not a mapping is one error (its type), not one per provider.
    cluster["allOf"] = [{"if": {"type": "object", "required": ["provider"], "properties": {"provider": {"const": p}}},
                         "then": {"$ref": f"#/$defs/{PROVIDER_DEFS[p]}"}} for p in PROVIDERS]
    return variants


# -- the catalog ------------------------------------------------------------------------------------
def _catalog_rules(defs: dict[str, dict[str, Any]], catalog: Catalog) -> None:
    """Add-on and bundle names, which bundle brings what, and the add-ons' namespaces."""
    addons, bundles = sorted(catalog.addons), sorted(catalog.bundles)
    bringing = {name: [b for b in bundles if name in catalog.bundles[b].addons] for name in addons}
    spec = defs["Addons"]["properties"]
    addon_names = {"type": "string", "enum": addons,
                   "errorMessage": "Not an add-on of addons/catalog.yaml; it has: " + ", ".join(addons),
                   "markdownEnumDescriptions": [catalog.addons[a].description for a in addons]}
    spec["bundles"]["items"] = {
        "type": "string", "enum": bundles,
        "errorMessage": "Not a bundle of addons/catalog.yaml; it has: " + ", ".join(bundles),
        "markdownEnumDescriptions": [f"{catalog.bundles[b].description}: {', '.join(catalog.bundles[b].addons)}"
                                     for b in bundles]}
    for key in ("bundles", "enable", "disable"):
        if key != "bundles":
            spec[key]["items"] = dict(addon_names)
        spec[key]["uniqueItems"] = True
    spec["values"]["propertyNames"] = {"enum": addons, "errorMessage": "Values for an add-on addons/catalog.yaml does "
                                                                        "not have; it has: " + ", ".join(addons)}
    spec["values"]["properties"] = {
        name: {"type": "object", "title": name,
               "markdownDescription": f"Helm values for {name} ({catalog.addons[name].description}), deep-merged "
                                      "over the catalog's defaults" + _defaults(catalog.addons[name].values)}
        for name in addons}
    spec["values"]["additionalProperties"] = {"type": "object"}

    rules: list[dict[str, Any]] = []
    for bundle in bundles:  # an add-on its bundle brings is not enabled again
        brought = catalog.bundles[bundle].addons
        rules.append({"if": _contains("bundles", [bundle]), "then": {"properties": {"enable": {"items": none_of(
            brought, f"Already comes with bundle '{bundle}' ({', '.join(brought)}); remove it from addons.enable")}}}})
    for name in addons:
        rules.append({"if": _contains("enable", [name]), "then": {"properties": {"disable": {"items": none_of(
            [name], f"'{name}' is also in addons.enable; keep one")}}}})
    alone = [name for name in addons if not bringing[name]]
    if alone:  # no bundle brings them: nothing to disable
        rules.append({"properties": {"disable": {"items": none_of(
            alone, "No bundle brings this add-on, so there is nothing to disable; remove it")}}})
    for name in addons:
        if bringing[name]:
            rules.append({
                "if": {**_contains("disable", [name]),
                       "properties": {"disable": {"contains": {"const": name}},
                                      "bundles": {"not": {"contains": {"enum": bringing[name]}}}}},
                "then": {"properties": {"disable": {"items": none_of([name], (
                    f"'{name}' comes with bundle {_quoted(bringing[name])}, which this stack does not use, so there is "
                    "nothing to disable; remove it"))}}}})
    for name in addons:  # values only for add-ons the stack gets
        gets = [_contains("enable", [name])] + ([_contains("bundles", bringing[name])] if bringing[name] else [])
        message = (f"This stack does not get '{name}': enable it (addons.enable"
                   + (f", or bundle {_quoted(bringing[name])}" if bringing[name] else "") + ") or remove these values")
        rules.append({
            "if": {"required": ["values"], "properties": {"values": {"required": [name]}},
                   "anyOf": [{"not": {"anyOf": gets}}, _contains("disable", [name])]},
            "then": {"properties": {"values": {"propertyNames": none_of([name], message)}}}})
    defs["Addons"]["allOf"] = rules

    namespace = defs["Namespace"]["properties"]["name"]
    label = {key: namespace.pop(key) for key in ("pattern", "patternErrorMessage")}
    owners: dict[str, str] = {}
    for addon_name in addons:
        owners.setdefault(catalog.addons[addon_name].namespace, addon_name)
    namespace["allOf"] = [
        label,
        none_of(RESERVED_NAMESPACES, "Reserved by Kubernetes; pick a name starting with your team name"),
        none_of(owners, "The namespace of an add-on of addons/catalog.yaml ("
                + ", ".join(f"{ns}: {a}" for ns, a in sorted(owners.items())) + "); pick another name")]


def _defaults(values: dict[str, Any]) -> str:
    if not values:
        return "."
    import yaml

    return ":\n\n```yaml\n" + yaml.safe_dump(values, sort_keys=True, default_flow_style=False).rstrip() + "\n```"


# -- the platform policy ----------------------------------------------------------------------------
def _environment_rules(env: str, rules: EnvironmentPolicy, catalog: Catalog) -> dict[str, Any]:
    """What `policy.yaml` allows stacks of `env`: allowed values as enums (offered by completion too)."""
    where = f"policy.yaml environments.{env}"
    versions = ", ".join(f'"{v}"' for v in rules.kubernetes_versions)
    group = {"properties": {
        "instanceType": {"enum": list(rules.instance_types), "doNotSuggest": True,
                         "errorMessage": f"Not allowed in {env} ({where}.instanceTypes); use one of: "
                                         + ", ".join(rules.instance_types)},
        "maxSize": {"maximum": rules.max_nodes_per_group, "doNotSuggest": True}}}
    cluster = {"properties": {
        "region": {"enum": list(rules.regions), "doNotSuggest": True,
                   "errorMessage": f"Not allowed in {env} ({where}.regions); use one of: " + ", ".join(rules.regions)},
        "kubernetesVersion": {"enum": list(rules.kubernetes_versions), "doNotSuggest": True,
                              "errorMessage": f"Not allowed in {env} ({where}.kubernetesVersions); use one of: "
                                              f"{versions} (quoted)"},
        "nodeGroups": {"items": group, "doNotSuggest": True}}}
    then: dict[str, Any] = {"properties": {"cluster": cluster}}
    required = _required_addons(env, rules, catalog, where)
    if required:
        then["required"] = ["addons"]
        then["errorMessage"] = required["message"]
        then["properties"]["addons"] = {"allOf": required["rules"], "doNotSuggest": True}
    return {"if": {"required": ["environment"], "properties": {"environment": {"const": env}}}, "then": then}


def _required_addons(env: str, rules: EnvironmentPolicy, catalog: Catalog, where: str) -> dict[str, Any] | None:
    checks: list[dict[str, Any]] = []
    messages = []
    for required in rules.required_addons:
        is_bundle = required in catalog.bundles
        needed = catalog.bundles[required].addons if is_bundle else [required]
        what = f"bundle '{required}'" if is_bundle else f"add-on '{required}'"
        message = (f"{env} stacks must get {what} ({where}.requiredAddons); add it to "
                   f"addons.{'bundles' if is_bundle else 'enable'}")
        messages.append(message)
        for name in needed:
            bringing = sorted(b for b in catalog.bundles if name in catalog.bundles[b].addons)
            options = [{**_contains("enable", [name]), "errorMessage": message}]
            if bringing:
                options.append({"required": ["bundles"], "errorMessage": message, "properties": {
                    "bundles": {"contains": {"enum": bringing}, "errorMessage": message}}})
            options[0]["properties"]["enable"]["errorMessage"] = message
            checks.append({"anyOf": options})
            checks.append({"properties": {"disable": {"items": none_of([name], (
                f"'{name}' is required in {env} (it is part of {what}, {where}.requiredAddons); remove it from "
                "addons.disable"))}}})
    return {"rules": checks, "message": "; ".join(messages)} if checks else None
