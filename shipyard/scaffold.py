"""`shipyard new-team`: a commented, valid stack file to start from, and its CODEOWNERS entry."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from shipyard.errors import InvalidInputError, ShipyardError
from shipyard.models import _DNS_LABEL, _REGION, SUPPORTED_KUBERNETES_VERSIONS
from shipyard.repo import Repo
from shipyard.sinks import is_owner, yaml_comment, yaml_value


COMMENT_COLUMN = 35


def _line(indent: int, key: str, value: object = None, comment: str = "", raw: str | None = None) -> str:
    """One `key: value  # comment` line. The value is written by the YAML emitter (`yaml_value`): whatever a
    user passed (`--region`, `--owner`) stays one value, quoted as needed; it can never add a key. `raw` is
    for the template's own flow text (a value assembled from `yaml_value` parts)."""
    code = f"{' ' * indent}{key}:" + (f" {raw if raw is not None else yaml_value(value)}"
                                      if raw is not None or value is not None else "")
    return f"{code.ljust(COMMENT_COLUMN - 1)} # {yaml_comment(comment)}" if comment else code


def _flow_map(pairs: dict[str, object]) -> str:
    """`{k: v, ...}` in the template's order (the emitter would sort the keys), each value emitted."""
    return "{" + ", ".join(f"{key}: {yaml_value(value)}" for key, value in pairs.items()) + "}"


def render_stack_file(team: str, env: str, owner: str, region: str, version: str, instance: str, low: int,
                      high: int, default_quota: dict[str, object], bundles: list[str], enable: list[str]) -> str:
    """The stack file `new-team` writes: the values through the YAML emitter, the comments through
    `yaml_comment` (a comment that names the team stays on its line). The first line is the modeline that
    gives editors the schema; the namespace has no quota, so the environment's `default_quota` applies."""
    lines = [
        "# yaml-language-server: $schema=../../schema/stack.schema.json",
        "# " + yaml_comment(f"Stack {team}-{env}: what team {team} wants in {env}. Every key is documented in "
                            "the schema"),
        "# (your editor shows it on hover) and in the README's stack file reference.",
        "# Change it in a pull request: CI validates it and posts a preview; merging applies it.",
        _line(0, "team", team),
        _line(0, "environment", env),
        _line(0, "owners", [owner], "who reviews changes to this file (GitHub users or teams)"),
        _line(0, "cluster"),
        _line(2, "provider", "eks"),
        _line(2, "region", region),
        _line(2, "kubernetesVersion", version),
        _line(2, "nodeGroups", comment="0 <= minSize <= desiredSize <= maxSize"),
        "    - " + _flow_map({"name": "general", "instanceType": instance, "minSize": low, "desiredSize": low,
                              "maxSize": high}),
        "  # " + yaml_comment("access: who is in your groups on the cluster (EKS access entries), e.g."),
        "  #   " + yaml_comment(f"groups: {{{team}-leads: [\"arn:aws:iam::ACCOUNT:role/{team}-leads\"]}}"),
        _line(0, "addons"),
        _line(2, "bundles", bundles, "baseline: ingress-nginx, cert-manager, metrics-server; see addons/catalog.yaml"),
        _line(2, "enable", enable, "e.g. external-dns"),
        _line(2, "disable", []),
        _line(2, "values", {}, "Helm values per add-on, merged over the catalog defaults"),
        _line(0, "namespaces", comment=f'names start with "{team}-"'),
        "  - " + _line(0, "name", f"{team}-apps"),
        "    # " + yaml_comment(f"quota: {_flow_map(default_quota)}").ljust(COMMENT_COLUMN - 7)
        + " # " + yaml_comment(f"omitted: {env}'s defaultQuota (policy.yaml) applies; uncomment to set your own"),
        _line(4, "admins", [f"{team}-leads"], "groups bound to the namespace admin role"),
        _line(4, "developers", [f"{team}-devs"], "groups bound to edit"),
        _line(0, "tags", {}, "extra AWS tags, e.g. {costCenter: cc-1234}"),
    ]
    return "\n".join(lines) + "\n"


SIZES = {"dev": ("t3.large", 1, 3), "staging": ("m6i.large", 2, 4), "prod": ("m6i.large", 3, 6)}


def _most_common(values: list[str], fallback: str) -> str:
    return Counter(values).most_common(1)[0][0] if values else fallback


def new_team(repo: Repo, team: str, env: str, owner: str | None = None, region: str | None = None) -> list[Path]:
    """Write `stacks/<team>/<env>.yaml` and its CODEOWNERS line; returns the files written."""
    from shipyard.validation import check_stack, load_catalog, load_policy

    # Checked before anything is written (fullmatch: `$` alone would let a trailing newline through); the
    # values are then emitted as YAML, so even a value that passed could not add a key.
    if not _DNS_LABEL.fullmatch(team) or len(team) > 40:
        raise ShipyardError(f"team name {team!r} must be a DNS-1123 label of at most 40 characters "
                            "(lower-case letters, digits and '-')")
    if owner is not None and not is_owner(owner):
        raise ShipyardError(f"--owner {owner!r} is not a GitHub user or team; write '@user' or '@org/team'")
    if region is not None and not _REGION.fullmatch(region):
        raise ShipyardError(f"--region {region!r} is not an AWS region name such as eu-west-1")
    path = repo.stacks_dir / team / f"{env}.yaml"
    if path.exists():
        raise ShipyardError(f"{path.relative_to(repo.root)} already exists; edit it instead")
    explicit_region = region is not None
    orgs, regions = [], []
    for ref in repo.stacks():
        text = ref.path.read_text(encoding="utf-8", errors="replace")
        orgs += re.findall(r"""["']@([A-Za-z0-9-]+)/""", text)  # owners as new-team writes them, or hand-written
        regions += re.findall(r"^\s*region:\s*([a-z0-9-]+)", text, re.M)
    if owner is None:
        if not orgs:
            raise ShipyardError("cannot guess the GitHub organisation; pass --owner @org/team")
        owner = f"@{_most_common(orgs, '')}/{team}"
    instance, low, high = SIZES[env]
    default_quota: dict[str, object] = {"cpu": "2", "memory": "4Gi", "pods": 20}  # replaced by the policy's below
    region = region or _most_common(regions, "eu-west-1")
    version = SUPPORTED_KUBERNETES_VERSIONS[-2]
    bundles, enable = ["baseline"], []
    # Start inside the platform policy: its regions, instance types, versions and required add-ons.
    catalog = load_catalog(repo.root).catalog
    rules = load_policy(repo.root, catalog).policy
    if rules is not None and catalog is not None:
        allowed = rules.environments[env]
        pods = str(allowed.default_quota.pods)
        default_quota = {"cpu": allowed.default_quota.cpu, "memory": allowed.default_quota.memory,
                         "pods": int(pods) if pods.isdigit() else pods}
        if region not in allowed.regions and not explicit_region:
            region = allowed.regions[0]
        instance = instance if instance in allowed.instance_types else allowed.instance_types[0]
        version = version if version in allowed.kubernetes_versions else allowed.kubernetes_versions[-1]
        for required in allowed.required_addons:
            target = bundles if required in catalog.bundles else enable
            if required not in target and not (target is enable and any(
                    required in catalog.bundles[b].addons for b in bundles)):
                target.append(required)
    text = render_stack_file(team, env, owner, region, version, instance, low, high, default_quota, bundles, enable)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    problems = check_stack(repo.root, path, repo.local_kubernetes_minor).diagnostics
    if problems:  # e.g. a bad --owner: never leave an invalid file behind
        path.unlink()
        if not any(path.parent.iterdir()):
            path.parent.rmdir()
        raise InvalidInputError(problems)
    from shipyard.ownership import write_codeowners
    from shipyard.validation import platform_team

    return [path, write_codeowners(repo, platform_team(repo.root))[0]]

