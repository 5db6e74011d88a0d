"""The generated JSON Schema: what editors show (titles, descriptions, examples, messages, defaults) and that
it follows the catalog and the policy. Whether it agrees with `validate` is test_editor_parity.py's."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from shipyard.cli.schema import render_schema
from shipyard.models import Cluster, NodeGroup

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(render_schema(REPO))


def _properties(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(definition, key, schema) of every stack-file key."""
    out = [("StackFile", key, prop) for key, prop in schema["properties"].items()]
    for name, definition in schema["$defs"].items():
        out += [(name, key, prop) for key, prop in definition.get("properties", {}).items()]
    return out


def _walk(node: Any, inside_if: bool = False):
    """Every subschema, and whether it only decides an `if` (never reported, so it needs no message)."""
    if isinstance(node, dict):
        yield node, inside_if
        for key, value in node.items():
            yield from _walk(value, inside_if or key == "if")
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value, inside_if)


def test_every_key_has_a_real_title_a_description_and_an_example(schema):
    for definition, key, prop in _properties(schema):
        if "title" not in prop and prop.get("doNotSuggest"):  # another provider's key: described by its error
            assert prop["description"].startswith(f"'{key}' does not apply to provider"), (definition, key)
            continue
        assert prop.get("description"), f"{definition}.{key} has no docstring"
        assert "```yaml\n" in prop["markdownDescription"], f"{definition}.{key} has no example"
        title = prop["title"]
        assert title != key.title() or key.islower(), f"{definition}.{key}: mangled title {title!r}"
        assert " " in title or title == key.capitalize() or title in ("CPU", "Add-ons", "DNS"), (definition, key, title)
    titles = {key: prop["title"] for _, key, prop in _properties(schema) if "title" in prop}
    assert titles["vpcCidr"] == "VPC CIDR" and titles["diskSizeGib"] == "Disk size (GiB)" and titles["cpu"] == "CPU"


def test_defaults_are_the_real_ones_and_never_null(schema):
    for node, _ in _walk(schema):
        assert node.get("default", "unset") is not None
    eks = schema["$defs"]["EksCluster"]["properties"]
    model = Cluster.model_fields
    assert eks["availabilityZones"]["default"] == model["availability_zones"].default == 3
    assert eks["vpcCidr"]["default"] == model["vpc_cidr"].default == "10.0.0.0/16"
    assert eks["publicEndpoint"]["default"] is model["public_endpoint"].default is False
    assert schema["$defs"]["ExistingCluster"]["properties"]["kubeconfigSecret"]["default"] == "kubeconfig"
    assert schema["$defs"]["NodeGroup"]["properties"]["diskSizeGib"]["default"] == NodeGroup.model_fields[
        "disk_size_gib"].default == 50
    assert "default" not in eks["region"] and "default" not in eks["nodeGroups"]


def test_every_pattern_and_enum_says_what_is_wrong_in_words(schema):
    for node, inside_if in _walk(schema):
        if inside_if:
            continue
        if "pattern" in node:
            assert node.get("patternErrorMessage") or node.get("errorMessage"), node["pattern"]
            re.compile(node["pattern"])
        if "enum" in node and len(node["enum"]) > 1:
            assert node.get("errorMessage"), node["enum"]
        if node.get("type") == "boolean":
            assert "true or false" in node["errorMessage"]


def test_patterns_use_only_syntax_that_means_the_same_in_ecmascript(schema):
    # Python's \d, \s and \Z differ from (or do not exist in) ECMAScript, which editors run.
    for node, _ in _walk(schema):
        for pattern in [node.get("pattern")] if isinstance(node.get("pattern"), str) else []:
            assert not re.search(r"\\[dDsSwWZAz]", pattern), pattern


def test_each_provider_offers_only_its_own_keys(schema):
    defs = schema["$defs"]
    offered = {name: {k for k, p in defs[name]["properties"].items() if not p.get("doNotSuggest")}
               for name in ("EksCluster", "LocalCluster", "ExistingCluster")}
    assert offered["EksCluster"] == {"provider", "region", "kubernetesVersion", "nodeGroups", "availabilityZones",
                                     "vpcCidr", "publicEndpoint", "access"}
    assert offered["LocalCluster"] == {"provider", "kubernetesVersion"}
    assert offered["ExistingCluster"] == {"provider", "kubernetesVersion", "kubeconfigSecret"}
    assert defs["EksCluster"]["required"] == ["provider", "region", "kubernetesVersion", "nodeGroups"]
    assert set(defs["Cluster"]["properties"]) == {"provider"}


def test_the_schema_follows_the_catalog_and_the_policy(platform_repo: Path):
    catalog = platform_repo / "addons/catalog.yaml"
    catalog.write_text(catalog.read_text().replace("\nbundles:\n", """  linkerd:
    description: Service mesh
    chart: linkerd
    repository: https://helm.linkerd.io/stable
    version: 1.16.11
    digest: sha256:0000000000000000000000000000000000000000000000000000000000000000
    namespace: linkerd
bundles:
  mesh:
    description: Mutual TLS between workloads
    addons: [linkerd]
""", 1))
    policy = platform_repo / "policy.yaml"
    policy.write_text(policy.read_text().replace("regions: [eu-west-1, us-east-1]", "regions: [us-east-1]"))
    schema = json.loads(render_schema(platform_repo))
    addons = schema["$defs"]["Addons"]["properties"]
    assert "linkerd" in addons["enable"]["items"]["enum"] and "mesh" in addons["bundles"]["items"]["enum"]
    assert "linkerd" in schema["$defs"]["Namespace"]["properties"]["name"]["allOf"][2]["pattern"]
    [prod] = [rule for rule in schema["allOf"] if rule["if"]["properties"]["environment"]["const"] == "prod"]
    assert prod["then"]["properties"]["cluster"]["properties"]["region"]["enum"] == ["us-east-1"]


def test_an_invalid_catalog_or_policy_is_an_error_not_a_schema(platform_repo: Path, capsys):
    from shipyard.cli import main

    policy = platform_repo / "policy.yaml"
    policy.write_text(policy.read_text().replace("maxNodesTotal: 10", "maxNodesTotal: ten"))
    assert main(["--repo", str(platform_repo), "schema"]) == 1
    assert "policy.yaml:" in capsys.readouterr().err


def test_every_example_is_valid_for_its_key(schema):
    import yaml

    from tests.support.editor import EditorValidator

    checked = 0
    for definition, key, prop in _properties(schema):
        match = re.search(r"```yaml\n(.*)\n```", prop.get("markdownDescription", ""), re.S)
        if not match or definition in ("Cluster",):  # Cluster's keys are shown through the provider branches
            continue
        example = yaml.safe_load(match[1])
        assert list(example) == [key], (definition, key, example)
        errors = list(EditorValidator({**prop, "$defs": schema["$defs"]}).iter_errors(example[key]))
        assert not errors, (definition, key, [e.message for e in errors])
        checked += 1
    assert checked > 30
