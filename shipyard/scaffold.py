"""`shipyard new-team`: a commented, valid stack file to start from, and its CODEOWNERS entry."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from shipyard.errors import InvalidInputError, ShipyardError
from shipyard.models import SUPPORTED_KUBERNETES_VERSIONS
from shipyard.repo import Repo


TEMPLATE = """\
# yaml-language-server: $schema=../../schema/stack.schema.json
# Stack {team}-{env}: what team {team} wants in {env}. Every key is documented in the schema
# (your editor shows it on hover) and in the README's stack file reference.
# Change it in a pull request: CI validates it and posts a preview; merging applies it.
team: {team}
environment: {env}
owners: ["{owner}"]                # who reviews changes to this file (GitHub users or teams)
cluster:
  provider: eks
  region: {region}
  kubernetesVersion: "{version}"
  nodeGroups:                      # 0 <= minSize <= desiredSize <= maxSize
    - {{name: general, instanceType: {instance}, minSize: {min}, desiredSize: {min}, maxSize: {max}}}
addons:
  bundles: [{bundles}]{bundles_pad}# baseline: ingress-nginx, cert-manager, metrics-server; see addons/catalog.yaml
  enable: [{enable}]{enable_pad}# e.g. external-dns
  disable: []
  values: {{}}                       # Helm values per add-on, merged over the catalog defaults
namespaces:                        # names start with "{team}-"
  - name: {team}-apps
    quota: {{cpu: "{cpu}", memory: {memory}, pods: {pods}}}
    admins: [{team}-leads]         # groups bound to the namespace admin role
    developers: [{team}-devs]      # groups bound to edit
tags: {{}}                           # extra AWS tags, e.g. {{costCenter: cc-1234}}
"""
SIZES = {"dev": ("t3.large", 1, 3, "4", "8Gi", 30), "staging": ("m6i.large", 2, 4, "8", "16Gi", 60),
         "prod": ("m6i.large", 3, 6, "16", "32Gi", 100)}


def _most_common(values: list[str], fallback: str) -> str:
    return Counter(values).most_common(1)[0][0] if values else fallback


def new_team(repo: Repo, team: str, env: str, owner: str | None = None, region: str | None = None) -> list[Path]:
    """Write `stacks/<team>/<env>.yaml` and its CODEOWNERS line; returns the files written."""
    from shipyard.validation import check_stack, load_catalog, load_policy

    if not re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", team) or len(team) > 40:
        raise ShipyardError(f"team name '{team}' must be a DNS-1123 label of at most 40 characters "
                            "(lower-case letters, digits and '-')")
    path = repo.stacks_dir / team / f"{env}.yaml"
    if path.exists():
        raise ShipyardError(f"{path.relative_to(repo.root)} already exists; edit it instead")
    explicit_region = region is not None
    orgs, regions = [], []
    for ref in repo.stacks():
        text = ref.path.read_text(encoding="utf-8", errors="replace")
        orgs += re.findall(r'"@([A-Za-z0-9-]+)/', text)
        regions += re.findall(r"^\s*region:\s*([a-z0-9-]+)", text, re.M)
    if owner is None:
        if not orgs:
            raise ShipyardError("cannot guess the GitHub organisation; pass --owner @org/team")
        owner = f"@{_most_common(orgs, '')}/{team}"
    instance, low, high, cpu, memory, pods = SIZES[env]
    region = region or _most_common(regions, "eu-west-1")
    version = SUPPORTED_KUBERNETES_VERSIONS[-2]
    bundles, enable = ["baseline"], []
    # Start inside the platform policy: its regions, instance types, versions and required add-ons.
    catalog = load_catalog(repo.root).catalog
    rules = load_policy(repo.root, catalog).policy
    if rules is not None and catalog is not None:
        allowed = rules.environments[env]
        if region not in allowed.regions and not explicit_region:
            region = allowed.regions[0]
        instance = instance if instance in allowed.instance_types else allowed.instance_types[0]
        version = version if version in allowed.kubernetes_versions else allowed.kubernetes_versions[-1]
        for required in allowed.required_addons:
            target = bundles if required in catalog.bundles else enable
            if required not in target and not (target is enable and any(
                    required in catalog.bundles[b].addons for b in bundles)):
                target.append(required)
    text = TEMPLATE.format(team=team, env=env, owner=owner, region=region, version=version, instance=instance,
                           min=low, max=high, cpu=cpu, memory=memory, pods=pods, bundles=", ".join(bundles),
                           enable=", ".join(enable),
                           bundles_pad=" " * max(1, 35 - len("  bundles: []" + ", ".join(bundles))),
                           enable_pad=" " * max(1, 35 - len("  enable: []" + ", ".join(enable))))
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

