"""Load + validate stack files and the catalog, turning every problem into a located `Diagnostic`."""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from shipyard.catalog import CATALOG_FILE, Catalog
from shipyard.coreaddons import CORE_ADDONS_FILE, CoreAddonPins
from shipyard.cost import PRICES_FILE, PriceTable
from shipyard.errors import Diagnostic, relpath, shown
from shipyard.models import StackFile
from shipyard.policy import POLICY_FILE, Policy, with_default_quotas
from shipyard.secrets import Redactor, Secret, find_secrets
from shipyard.yamlfile import YamlDocument, YamlError, load_file, load_text, read_file

MAX_DIAGNOSTICS_PER_FILE = 20
"""Problems reported per file: enough to fix a file in one go, bounded however broken (or hostile) it is."""

_TYPE_NAMES = {
    "string_type": "a string", "int_type": "an integer", "bool_type": "true or false", "dict_type": "a mapping",
    "list_type": "a list", "float_type": "a number", "model_type": "a mapping", "model_attributes_type": "a mapping",
    "int_from_float": "a whole number", "dataclass_type": "a mapping",
}


_YAML_11_BOOLEANS = frozenset({"yes", "no", "on", "off", "y", "n"})


def _stack_helm_values(loc: tuple[str | int, ...]) -> bool:
    """`addons.values.<add-on>...` of a stack file: untyped Helm values (see `yamlfile.Untyped`)."""
    return len(loc) > 3 and loc[0] == "addons" and loc[1] == "values"


def _catalog_helm_values(loc: tuple[str | int, ...]) -> bool:
    """`addons.<add-on>.values...` of the catalog: untyped Helm values."""
    return len(loc) > 3 and loc[0] == "addons" and loc[2] == "values"


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, float):
        return f"the number {shown(repr(value))}"
    if isinstance(value, int):
        return f"the integer {shown(value)}"
    return f"the string '{shown(value)}'"


def _data_loc(data: Any, loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """Keep only the parts of a pydantic `loc` that address real data (drops union tags like 'str', '[key]')."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            out.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
        elif part == "[key]":
            break
    return tuple(out)


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at `loc` (to list its allowed keys)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            by_alias = {(f.alias or n): f for n, f in current.model_fields.items()}
            if part not in by_alias:
                return None
            current = by_alias[part].annotation
        elif typing.get_origin(current) is list and isinstance(part, int):
            current = typing.get_args(current)[0]
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _dotted(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{shown(part)}" if text else shown(part))
    return text or "(top level)"


def _message(model: type[BaseModel], doc: YamlDocument, err: dict[str, Any],
             suggest: bool = True) -> tuple[tuple[str | int, ...], str]:
    kind = err["type"]
    raw_loc = tuple(err["loc"])
    loc = _data_loc(doc.data, raw_loc)
    key = _dotted(loc)
    value = err.get("input")
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        allowed = sorted((f.alias or n) for n, f in parent.model_fields.items()) if parent else []
        name = loc[-1] if loc else raw_loc[-1]
        close = difflib.get_close_matches(str(name)[:100], allowed, n=1) if suggest else []
        hint = f"did you mean '{close[0]}'? " if close else ""
        where = _dotted(loc[:-1])
        return loc, (f"unknown key '{shown(name)}' in {where}; {hint}allowed keys: {', '.join(allowed)}"
                     if allowed else f"unknown key '{shown(name)}'; remove it")
    if kind == "missing":
        name = raw_loc[-1]
        return loc, f"{_dotted(loc)}: missing required key '{name}'; add it (see README, stack file reference)"
    if kind in _TYPE_NAMES:
        hint = ""
        if kind == "string_type" and isinstance(value, float):
            hint = f" — quote it: \"{shown(value)}\" (YAML reads an unquoted {shown(value)} as a number)"
        elif kind == "bool_type" and isinstance(value, str) and value.lower() in _YAML_11_BOOLEANS:
            hint = " — write true or false (YAML 1.2, which Shipyard and editors read, has no other booleans)"
        return loc, f"{key}: expected {_TYPE_NAMES[kind]}, got {_describe(value)}{hint}"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return loc, f"{key}: '{shown(value)}' is not allowed; use one of: {expected.replace(' or ', ', ')}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        op = {"greater_than_equal": ">=", "less_than_equal": "<=", "greater_than": ">", "less_than": "<"}[kind]
        limit = next(iter(err.get("ctx", {}).values()), "")
        return loc, f"{key}: {shown(value)} is out of range; it must be {op} {limit}"
    if kind in ("too_short", "too_long"):
        ctx = err.get("ctx", {})
        if kind == "too_short":
            return loc, f"{key}: needs at least {ctx.get('min_length')} item(s)"
        return loc, f"{key}: has more than {ctx.get('max_length')} items"
    if kind in ("string_too_long", "string_too_short", "string_pattern_mismatch"):
        return loc, f"{key}: {err['msg'].lower()} (got '{shown(value)}')"
    if kind == "union_type":
        return loc, f"{key}: unexpected {_describe(value)}"
    return loc, f"{key}: {err['msg']}"


def diagnostics_from(model: type[BaseModel], doc: YamlDocument, exc: ValidationError) -> list[Diagnostic]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for number, err in enumerate(exc.errors(include_url=False)):
        # Spelling suggestions are the costly part; a file with thousands of unknown keys needs none.
        loc, message = _message(model, doc, err, suggest=number < 4 * MAX_DIAGNOSTICS_PER_FILE)
        # A union reports one error per member for the same value; keep the first of each location.
        if (loc, err["type"]) in seen or (err["type"] in _TYPE_NAMES and (loc, "type") in seen):
            continue
        seen.add((loc, err["type"]))
        if err["type"] in _TYPE_NAMES:
            seen.add((loc, "type"))
        mark = doc.mark(loc)
        out.append(Diagnostic(doc.path, mark.line, mark.col, message))
    return out


@dataclass(frozen=True)
class LoadedCatalog:
    catalog: Catalog | None
    diagnostics: list[Diagnostic]


def load_catalog(root: Path) -> LoadedCatalog:
    """Load and validate `addons/catalog.yaml` (chart archives are checked against their digests when a
    program installs them, or `shipyard charts pull` fetches them: see shipyard/charts.py)."""
    path = root / CATALOG_FILE
    shown = relpath(path, root)
    try:
        doc = load_file(path, shown, untyped=_catalog_helm_values)
    except YamlError as exc:
        return LoadedCatalog(None, exc.diagnostics)
    if not isinstance(doc.data, dict):
        return LoadedCatalog(None, [Diagnostic(shown, 1, 1, "the catalog must be a mapping with 'addons' and "
                                                            "'bundles'")])
    try:
        catalog = Catalog.model_validate(doc.data)
    except ValidationError as exc:
        return LoadedCatalog(None, diagnostics_from(Catalog, doc, exc))
    # The EKS core add-on table belongs with the catalog: a platform with a broken one builds nothing.
    pins, _, problems = _load_model(root, CORE_ADDONS_FILE, CoreAddonPins, "the EKS core add-on table")
    if pins is None:
        return LoadedCatalog(None, problems)
    return LoadedCatalog(catalog.with_core_addons(pins), [])


@dataclass(frozen=True)
class LoadedPolicy:
    """`policy.yaml` and the price table it budgets with; None where invalid (see diagnostics)."""

    policy: Policy | None
    prices: PriceTable | None
    diagnostics: list[Diagnostic]


def _load_model(root: Path, relative: Path, model: type[BaseModel], what: str) -> tuple[Any, YamlDocument | None,
                                                                                       list[Diagnostic]]:
    path = root / relative
    shown = relpath(path, root)
    if not path.is_file():
        return None, None, [Diagnostic(shown, 1, 1, f"{what} is missing; the platform team must provide it "
                                                    "(see README, platform policy)")]
    try:
        doc = load_file(path, shown)
    except YamlError as exc:
        return None, None, exc.diagnostics
    if not isinstance(doc.data, dict):
        return None, doc, [Diagnostic(shown, 1, 1, f"{what} must be a mapping, not {_describe(doc.data)}")]
    try:
        return model.model_validate(doc.data), doc, []
    except ValidationError as exc:
        return None, doc, diagnostics_from(model, doc, exc)


def load_policy(root: Path, catalog: Catalog | None) -> LoadedPolicy:
    """Load and validate `policy.yaml` and `pricing/aws.yaml`, and that they agree with each other and
    with the catalog (required add-ons exist, every allowed region and instance type has a price)."""
    prices, _, price_problems = _load_model(root, PRICES_FILE, PriceTable, "the price table")
    policy, doc, problems = _load_model(root, POLICY_FILE, Policy, "the platform policy")
    if policy is not None and doc is not None:
        for loc, err, _value in policy.check_references(catalog, prices):
            mark = doc.mark(loc)
            problems.append(Diagnostic(doc.path, mark.line, mark.col, f"{_dotted(loc)}: {err.message()}"))
    if problems:
        policy = None
    return LoadedPolicy(policy, prices, price_problems + problems)


def display_path(path: Path, root: Path) -> str:
    """A stack file's path as messages show it: relative to the repository, else as given. Never resolved:
    a link's target is not for messages."""
    absolute = Path(os.path.normpath(path if path.is_absolute() else Path.cwd() / path))
    try:
        return absolute.relative_to(root).as_posix()
    except ValueError:
        return shown(str(path), 200)


def parse_stack_file(path: Path, root: Path, catalog: Catalog | None, local_kubernetes_minor: str | None = None,
                     policy: LoadedPolicy | None = None) -> tuple[StackFile | None, list[Diagnostic]]:
    """Validate one stack file (against the catalog and the platform policy when given). Returns the model
    (None when invalid) and every diagnostic (at most `MAX_DIAGNOSTICS_PER_FILE`), none repeating a value
    found to be a secret. Namespace clashes with other stack files are `validate_files`' and `check_stack`'s."""
    stack, diagnostics, _ = _parse(path, root, catalog, local_kubernetes_minor, policy)
    return stack, diagnostics


def _parse(path: Path, root: Path, catalog: Catalog | None, local_kubernetes_minor: str | None,
           policy: LoadedPolicy | None, applied: tuple[str, str] | None = None
           ) -> tuple[StackFile | None, list[Diagnostic], list[Claim]]:
    where = display_path(path, root)
    try:
        doc = load_file(path, where, root=root, untyped=_stack_helm_values)
    except YamlError as exc:
        if exc.document is None:
            return None, _bounded(sorted(exc.diagnostics), where), []
        # Only values were at fault: still look for secrets, and never say more about a value that is one.
        secrets = find_secrets(exc.document.data)
        flagged = [s.loc for s in secrets]
        kept = [d for d, loc in zip(exc.diagnostics, exc.locs) if loc is None or not _under_any(loc, flagged)]
        return None, _finish(kept + _secret_diagnostics(secrets, exc.document), secrets, where), \
            _claims(exc.document)
    if not isinstance(doc.data, dict):
        secrets = find_secrets(doc.data)
        return None, _finish([Diagnostic(where, 1, 1, f"the top level must be a mapping of keys (team:, environment:, "
                                                      f"...), not {_describe(doc.data)}")]
                             + _secret_diagnostics(secrets, doc), secrets, where), []
    context = {"folder": path.parent.name, "filename": path.stem, "catalog": catalog,
               "local_kubernetes_minor": local_kubernetes_minor,
               "policy": policy.policy if policy else None, "prices": policy.prices if policy else None,
               "applied_kubernetes_version": applied}
    secrets = find_secrets(doc.data)
    problems = _secret_diagnostics(secrets, doc)
    if path.suffix != ".yaml":
        problems.append(Diagnostic(where, 1, 1, "stack files must end in .yaml (not .yml); rename the file"))
    claims = _claims(doc)
    try:
        stack = StackFile.model_validate(doc.data, context=context)
    except ValidationError as exc:
        return None, _finish(problems + diagnostics_from(StackFile, doc, exc), secrets, where), claims
    return (None if problems else stack), _finish(problems, secrets, where), claims


def _under_any(loc: tuple[str | int, ...], prefixes: list[tuple[str | int, ...]]) -> bool:
    return any(loc[:len(prefix)] == prefix for prefix in prefixes)


def _secret_diagnostics(secrets: list[Secret], doc: YamlDocument) -> list[Diagnostic]:
    out = []
    for secret in secrets:
        mark = doc.mark(secret.loc)
        out.append(Diagnostic(doc.path, mark.line, mark.col, secret.message))
    return out


def _finish(diagnostics: list[Diagnostic], secrets: list[Secret], where: str) -> list[Diagnostic]:
    """Sorted, bounded, and with every flagged value redacted from every message, whichever rule wrote it."""
    if secrets:
        redact = Redactor([value for secret in secrets for value in secret.values])
        diagnostics = [Diagnostic(d.path, d.line, d.col, redact(d.message)) for d in diagnostics]
    return _bounded(sorted(diagnostics), where)


def _bounded(diagnostics: list[Diagnostic], where: str) -> list[Diagnostic]:
    if len(diagnostics) <= MAX_DIAGNOSTICS_PER_FILE:
        return diagnostics
    last = diagnostics[MAX_DIAGNOSTICS_PER_FILE - 1]
    rest = len(diagnostics) - MAX_DIAGNOSTICS_PER_FILE + 1
    return diagnostics[:MAX_DIAGNOSTICS_PER_FILE - 1] + [
        Diagnostic(where, last.line, last.col, f"... and {rest} more problem(s) in this file, not shown; fix the ones "
                                               "above and validate again")]


FILE_TIMEOUT = 20.0
"""Seconds a worker may spend on one stack file (a normal one takes a millisecond) before it counts as hung."""


@dataclass(frozen=True)
class Claim:
    """A namespace a stack file declares on a cluster it may share with other stacks."""

    cluster: str  # "local" or "existing": which group of stacks may share the cluster
    name: str
    path: str
    line: int
    col: int


def _claims(doc: YamlDocument) -> list[Claim]:
    """Namespaces of a local or existing stack, read leniently from the raw document: a file with other
    errors still claims its namespaces (eks stacks create their own cluster and share with nobody)."""
    data = doc.data
    cluster = data.get("cluster") if isinstance(data, dict) else None
    provider = cluster.get("provider") if isinstance(cluster, dict) else None
    namespaces = data.get("namespaces") if isinstance(data, dict) else None
    if provider not in ("local", "existing") or not isinstance(namespaces, list):
        return []
    out = []
    for index, namespace in enumerate(namespaces):
        name = namespace.get("name") if isinstance(namespace, dict) else None
        if isinstance(name, str):
            mark = doc.mark(("namespaces", index, "name"))
            out.append(Claim(provider, name, doc.path, mark.line, mark.col))
    return out


def claims_of(path: Path, root: Path) -> list[Claim]:
    """The namespace claims of a stack file that is not being validated itself (none when it is unreadable)."""
    shown_path = display_path(path, root)
    try:
        text = read_file(path, shown_path, root=root)
        # Most stacks are eks: a file that cannot spell either provider (an escape could) needs no parsing.
        if "local" not in text and "existing" not in text and "\\" not in text:
            return []
        return _claims(load_text(text, shown_path))
    except YamlError as exc:
        return _claims(exc.document) if exc.document is not None else []


_SHARED_WHY = {
    "local": "every local stack runs on the one local control plane",
    "existing": ("existing stacks may run on the same cluster, and which one is only in each stack's encrypted "
                 "kubeconfig, which validation cannot compare"),
}


def namespace_conflicts(claims: list[Claim], report: set[str]) -> list[Diagnostic]:
    """A namespace claimed by two stack files that may share a cluster is an error on each claimant in
    `report` (paths as displayed), naming the others: whichever file changes, its author sees the clash."""
    by_name: dict[tuple[str, str], list[Claim]] = {}
    for claim in claims:
        by_name.setdefault((claim.cluster, claim.name), []).append(claim)
    out = []
    for (cluster, name), claimants in by_name.items():
        files = sorted({c.path for c in claimants})
        if len(files) < 2:
            continue
        for claim in claimants:
            if claim.path not in report:
                continue
            others = ", ".join(f for f in files if f != claim.path)
            out.append(Diagnostic(claim.path, claim.line, claim.col,
                                  f"namespace '{shown(name)}' is also claimed by {shown(others, 300)}; "
                                  f"{_SHARED_WHY[cluster]}, so their namespaces must be unique — rename one "
                                  f"(e.g. add the environment)"))
    return out


def _check_file(path: Path, root: Path, catalog: Catalog | None, minor: str | None,
                policy: LoadedPolicy | None, applied: tuple[str, str] | None = None
                ) -> tuple[list[Diagnostic], list[Claim]]:
    _, diagnostics, claims = _parse(path, root, catalog, minor, policy, applied)
    return diagnostics, claims


def _crashed(path: Path, root: Path, why: str) -> tuple[list[Diagnostic], list[Claim]]:
    return [Diagnostic(display_path(path, root), 1, 1, f"validating this file {why}; it is not valid until it "
                                                       "validates")], []


def validate_files(paths: list[Path], root: Path, catalog: Catalog | None, local_kubernetes_minor: str | None,
                   jobs: int | None = None, policy: LoadedPolicy | None = None,
                   applied: Mapping[Path, tuple[str, str]] | None = None) -> list[Diagnostic]:
    """Diagnostics for many stack files, and the namespaces they claim on shared clusters (checked against
    every stack file of the repository). Large sets are split across forked workers (one per core):
    parsing is CPU-bound Python and a platform repository can hold thousands of stack files. A worker
    that crashes or hangs costs only the file it was on: that file gets an error, the run goes on.
    `applied`: path -> (Kubernetes version last applied, where that was read) for the upgrade-step rule."""
    from shipyard import forked

    jobs = jobs or min(os.cpu_count() or 1, 8)
    if jobs < 2 or len(paths) < 200 or not forked.available():
        results = [_check_file(p, root, catalog, local_kubernetes_minor, policy, (applied or {}).get(p))
                   for p in paths]
    else:
        results = forked.map_forked(lambda p: _check_file(p, root, catalog, local_kubernetes_minor, policy,
                                                          (applied or {}).get(p)), paths,
                                    jobs, FILE_TIMEOUT, lambda p, why: _crashed(p, root, why))
    diagnostics = [d for found, _ in results for d in found]
    claims = [c for _, found in results for c in found]
    if claims:
        from shipyard.repo import Repo

        checked = {os.path.normpath(p if p.is_absolute() else Path.cwd() / p) for p in paths}
        for other in Repo(root).stack_files():
            if os.path.normpath(other) not in checked:
                claims.extend(claims_of(other, root))
        diagnostics += namespace_conflicts(claims, {display_path(p, root) for p in paths})
    return diagnostics


@dataclass(frozen=True)
class CheckedStack:
    stack: StackFile | None
    """The valid stack with every namespace's quota resolved (the environment's default where omitted)."""
    catalog: Catalog | None
    policy: LoadedPolicy
    diagnostics: list[Diagnostic]


def check_stack(root: Path, path: Path, local_kubernetes_minor: str | None,
                applied: tuple[str, str] | None = None) -> CheckedStack:
    """One stack file against everything the platform defines: the catalog, the policy and the price table.
    Problems in those platform files are reported too: nothing is applied on a broken platform. `applied`: the
    Kubernetes version last applied and where it was read (the upgrade-step rule)."""
    loaded = load_catalog(root)
    policy = load_policy(root, loaded.catalog)
    stack, problems, claims = _parse(path, root, loaded.catalog, local_kubernetes_minor, policy, applied)
    if claims:  # a local or existing stack: its namespaces against every other stack's on a shared cluster
        from shipyard.repo import Repo

        here = os.path.normpath(path if path.is_absolute() else Path.cwd() / path)
        for other in Repo(root).stack_files():
            if os.path.normpath(other) != here:
                claims.extend(claims_of(other, root))
        problems = sorted(problems + namespace_conflicts(claims, {display_path(path, root)}))
    diagnostics = loaded.diagnostics + policy.diagnostics + problems
    if diagnostics or stack is None:
        return CheckedStack(None, loaded.catalog, policy, diagnostics)
    # What is built (and previewed): every namespace with its quota, the environment's default where omitted.
    resolved = with_default_quotas(stack, policy.policy) if policy.policy is not None else stack
    return CheckedStack(resolved, loaded.catalog, policy, diagnostics)


def platform_team(root: Path) -> list[str]:
    """The platform team from a valid `policy.yaml` (raises with its diagnostics otherwise)."""
    from shipyard.errors import InvalidInputError

    loaded = load_policy(root, load_catalog(root).catalog)
    if loaded.policy is None:
        raise InvalidInputError(loaded.diagnostics)
    return list(loaded.policy.platform_team)
