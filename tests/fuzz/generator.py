"""A seeded generator of hostile and mutated stack files, for `tests/shipyard/test_fuzz.py`.

Same seed, same files: a failure reproduces with the seed and case number it names. Cases come from
three sources: structures known to break YAML tooling (deep block and flow nesting, alias bombs,
anchors reused deeper, huge anchors repeated, recursive aliases, bad tags, YAML 1.1 values, several
documents, control characters, invalid UTF-8, oversized files), valid stack files with secrets put
where rules also quote values, and valid stack files mutated at random (lines deleted, duplicated,
swapped, re-indented, truncated; hostile tokens and values spliced in).

`StackMutator` makes single mutations of valid stack files for the editor/CI parity test
(tests/shipyard/test_editor_parity.py): a value set to a near miss or a wrong type, a key deleted or added
(another provider's, a typo), a list item appended, copied or removed, or one text edit of `mutate`.

`Case.secrets` lists the credentials a case contains. Only credentials recognisable by their shape are
listed (a key-based secret stops being one when a mutation renames its key): none may ever appear in
any output.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass

ENVIRONMENTS = ("dev", "staging", "prod")
PROVIDERS = ("eks", "local", "existing")


@dataclass(frozen=True)
class Case:
    number: int
    kind: str
    team: str
    environment: str
    content: bytes
    secrets: tuple[str, ...]


TEMPLATES = {
    "eks": """team: {team}
environment: {env}
owners: ["@acme/{team}"]
cluster:
  provider: eks
  region: eu-west-1
  kubernetesVersion: "1.34"
  nodeGroups:
    - {{name: general, instanceType: m6i.large, minSize: 1, desiredSize: 2, maxSize: 3}}
addons:
  bundles: [baseline, observability]
  values:
    ingress-nginx:
      controller: {{replicaCount: 2}}
namespaces:
  - name: {team}-api
    quota: {{cpu: "4", memory: 8Gi, pods: 30}}
    admins: [{team}-leads]
tags: {{costCenter: cc-4411}}
""",
    "local": """team: {team}
environment: {env}
owners: ["@acme/{team}"]
cluster:
  provider: local
addons:
  enable: [metrics-server]
  values:
    metrics-server:
      replicaCount: 1
namespaces:
  - name: {team}-web
    quota: {{cpu: "4", memory: 8Gi, pods: 20}}
    developers: [{team}-devs]
""",
    "existing": """team: {team}
environment: {env}
owners: ["@acme/{team}", "@jdoe"]
cluster:
  provider: existing
  kubeconfigSecret: kubeconfig
addons:
  bundles: [baseline, gitops]
  disable: [metrics-server]
namespaces:
  - name: {team}-gateway
    quota: {{cpu: "8", memory: 16Gi, pods: 60}}
    viewers: [support]
""",
}

HOSTILE_TOKENS = ("[", "]", "{", "}", "&a ", "*a", "!!int ", "!!python/object/apply:os.system ", "!foo ", "|", ">",
                  "'", '"', "%", "@", "`", "#", ",", ": ", "- ", "? ", "<<: ", "\t", "\x00", "\x1b[31m", "\u202e",
                  "\u2028", "\ufeff", "---\n", "...\n", "\\", "\r", "~", "!<tag:yaml.org,2002:int> ", "*nope ")
HOSTILE_VALUES = ("yes", "No", "on", "OFF", "y", "n", "012", "0b101", "0o17", "-0x2", "1:30", "1_000", "1e3", ".inf",
                  "!!int abc", "!!float abc", "!!bool maybe", "!!null x", "!!binary aGk=", "!!set {a}", "!!omap [a: 1]",
                  "!!timestamp x", "!!str", "!!map x", "!!seq x", "*undefined", "&dup x", "<<", "=", "~", "null",
                  "-1", "99999999999999999999999999", "1.7976931348623157e309", "\"\\x00\\u202e\"", "''", "[]", "{}")


class Generator:
    """`cases(count)` yields `count` cases; the same seed always yields the same ones."""

    def __init__(self, seed: int):
        self.seed = seed
        self.rng = random.Random(seed)

    # -- building blocks ---------------------------------------------------------------------------
    def _random(self, alphabet: str, length: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(length))

    def secret(self) -> str:
        """A fresh credential of a random kind, each recognisable by its shape."""
        alnum = string.ascii_letters + string.digits
        upper = string.ascii_uppercase + string.digits
        kind = self.rng.randrange(10)
        if kind == 0:
            return "ghp_" + self._random(alnum, 36)
        if kind == 1:
            return "github_pat_" + self._random(alnum, 22) + "_" + self._random(alnum, 59)
        if kind == 2:
            return "AKIA" + self._random(upper, 16)
        if kind == 3:
            return "xoxb-" + self._random(string.digits, 12) + "-" + self._random(alnum, 24)
        if kind == 4:
            return "AIza" + self._random(alnum + "_-", 35)
        if kind == 5:
            body = lambda n: self._random(alnum + "_-", n)  # noqa: E731
            return "eyJhbGciOiJIUzI1NiJ9.eyJ" + body(30) + "." + body(43)
        if kind == 6:
            return "postgres://app:" + self._random(alnum, 16) + "@db.internal:5432/app"
        if kind == 7:
            return "glpat-" + self._random(alnum, 20)
        if kind == 8:
            pem = f"-----BEGIN RSA PRIVATE KEY-----\n{self._random(alnum, 64)}\n-----END RSA PRIVATE KEY-----\n"
            return base64.b64encode(pem.encode()).decode()
        return "npm_" + self._random(alnum, 36)

    def base(self, team: str, env: str) -> str:
        return TEMPLATES[self.rng.choice(PROVIDERS)].format(team=team, env=env)

    # -- hostile structures ------------------------------------------------------------------------
    def hostile(self) -> tuple[str, str | bytes, tuple[str, ...]]:
        rng = self.rng
        pick = rng.randrange(22)
        if pick == 0:
            return "deep-block-sequence", "team: x\ndeep:\n  " + "- " * rng.randint(41, 40_000) + "1\n", ()
        if pick == 1:
            depth = rng.randint(41, 300)
            return "deep-block-mapping", "".join("  " * i + f"k{i}:\n" for i in range(depth)) + "  " * depth + "v: 1\n", ()
        if pick == 2:
            n = rng.randint(41, 60_000)
            return "deep-flow-sequence", "team: x\ndeep: " + "[" * n + "]" * n + "\n", ()
        if pick == 3:
            n = rng.randint(41, 30_000)
            return "deep-flow-mapping", "deep: " + "{a: " * n + "1" + "}" * n + "\n", ()
        if pick == 4:
            n = rng.randint(41, 20_000)
            return "deep-mixed", "deep:\n" + "".join("  " * min(i, 60) + "- [\n" for i in range(n)) + "]" * n + "\n", ()
        if pick == 5:
            lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
            for i in range(1, rng.randint(4, 12)):
                prev, cur = chr(96 + i), chr(97 + i)
                lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
            return "alias-bomb", "\n".join(lines) + "\n", ()
        if pick == 6:
            size, refs = rng.randint(1_000, 200_000), rng.randint(10, 2_000)
            text = "big: &a " + "x" * size + "\nrefs: [" + ", ".join(["*a"] * refs) + "]\n"
            return "huge-anchor-repeated", text[:300_000], ()
        if pick == 7:
            inner = rng.randint(5, 39)
            outer = rng.randint(41 - inner, 45)
            text = f"a: &a {'[' * inner}1{']' * inner}\nb: {'[' * outer}*a{']' * outer}\n"
            return "anchor-reused-deeper", text, ()
        if pick == 8:
            return "recursive-alias", rng.choice(["a: &a [*a]\n", "a: &a {b: *a}\n", "&a [*a, *a]\n"]), ()
        if pick == 9:
            return "multiple-documents", "team: a\n---\nteam: b\n" + "---\n" * rng.randint(0, 3), ()
        if pick == 10:
            return "control-characters", "team: " + self._random("\x00\x01\x07\x1b\x7f\x85\u2028\ufffe", 5) + "\n", ()
        if pick == 11:
            junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 2_000)))
            return "binary", b"team: x\n" + junk, ()
        if pick == 12:
            return "oversized", "a: " + "x" * (256 * 1024 + rng.randint(1, 1000)) + "\n", ()
        if pick == 13:
            return "many-keys", "".join(f"k{i}: {i}\n" for i in range(rng.randint(1_000, 15_000))), ()
        if pick == 14:
            return "many-duplicates", "team: x\n" + "dup: 1\n" * rng.randint(100, 20_000), ()
        if pick == 15:
            return "bad-tag", f"team: x\nvalue: {rng.choice(HOSTILE_VALUES)}\n", ()
        if pick == 16:
            return "long-line", "team: " + self._random(string.printable, rng.randint(10_000, 200_000)) + "\n", ()
        if pick == 17:
            return "empty", rng.choice(["", "\n", "# c\n", "---\n", "...\n", "~\n", "null\n", "\ufeff"]), ()
        if pick == 18:
            return "scalar-root", rng.choice(["just text\n", "42\n", "- a\n- b\n", "'" + "x" * 5000 + "'\n"]), ()
        if pick == 19:
            text = "a: &a " + "[" * 20 + "1" + "]" * 20 + "\n" + "".join(f"k{i}: &k{i} [*a, *a]\n" for i in range(30))
            return "anchors-chain", text, ()
        if pick == 20:
            n = rng.randint(41, 20_000)
            return "deep-complex-keys", "? " * n + "x\n", ()
        n = rng.randint(41, 5_000)
        return "deep-indented-sequence", "".join("  " * i + "-\n" for i in range(min(n, 400))), ()

    # -- secrets where rules also quote values ------------------------------------------------------
    def with_secrets(self, team: str, env: str) -> tuple[str, tuple[str, ...]]:
        text = TEMPLATES["eks"].format(team=team, env=env)
        secrets = []
        for _ in range(self.rng.randint(1, 4)):
            secret = self.secret()
            secrets.append(secret)
            place = self.rng.randrange(9)
            if place == 0:
                text = text.replace(f'owners: ["@acme/{team}"]', f'owners: ["@{secret}"]')
            elif place == 1:
                text = text.replace("region: eu-west-1", f"region: {secret}")
            elif place == 2:
                text = text.replace("costCenter: cc-4411", f"costCenter: \"{'x' * self.rng.randint(0, 300)}{secret}\"")
            elif place == 3:
                text = text.replace("tags: {", f'tags: {{"{secret}": x, ')
            elif place == 4:
                text = text.replace("      controller: {replicaCount: 2}",
                                    f"      controller: {{replicaCount: 2}}\n      env:\n        - name: API_TOKEN\n"
                                    f"          value: \"{secret}\"")
            elif place == 5:
                text = text.replace(f"  - name: {team}-api", f"  - name: \"{secret}\"")
            elif place == 6:
                text = text.replace("kubernetesVersion: \"1.34\"", f"kubernetesVersion: \"{secret}\"")
            elif place == 7:
                text = text.replace("      controller: {replicaCount: 2}",
                                    f"      controller: {{replicaCount: 2, existingSecret: \"{secret}\"}}")
            else:
                text += f"unknownKey: \"{secret}\"\n"
        return text, tuple(secrets)

    # -- mutations ---------------------------------------------------------------------------------
    def mutate(self, text: str) -> tuple[str, tuple[str, ...]]:
        rng = self.rng
        secrets: list[str] = []
        for _ in range(rng.randint(1, 4)):
            lines = text.split("\n")
            op = rng.randrange(9)
            at = rng.randrange(len(lines))
            if op == 0 and len(lines) > 1:
                del lines[at]
            elif op == 1:
                lines.insert(at, lines[at])
            elif op == 2:
                other = rng.randrange(len(lines))
                lines[at], lines[other] = lines[other], lines[at]
            elif op == 3:
                lines[at] = " " * rng.randint(0, 9) + lines[at].lstrip()
            elif op == 4:
                pos = rng.randint(0, len(text))
                text = text[:pos] + rng.choice(HOSTILE_TOKENS) + text[pos:]
                continue
            elif op == 5 and ": " in lines[at]:
                key = lines[at].split(": ", 1)[0]
                value = rng.choice(HOSTILE_VALUES)
                if rng.random() < 0.3:
                    value = self.secret()
                    secrets.append(value)
                    value = f'"{value}"'
                lines[at] = f"{key}: {value}"
            elif op == 6:
                text = text[:rng.randint(0, len(text))]
                continue
            elif op == 7:
                lines.insert(at, "  " * rng.randint(0, 4) + rng.choice(["x: &a [1, 2]", "y: *a", "<<: *a",
                                                                         "- *a", "z: !!int x", "'k': v"]))
            else:
                lines[at] = lines[at] + " # " + self._random(string.printable, 20)
            text = "\n".join(lines)
        # a secret whose quotes a mutation broke may be split: only intact ones are promised hidden
        return text, tuple(s for s in secrets if s in text)

    def cases(self, count: int) -> Iterator[Case]:
        for number in range(count):
            team = f"fz{number}"
            env = self.rng.choice(ENVIRONMENTS)
            roll = self.rng.random()
            if roll < 0.35:
                kind, content, secrets = self.hostile()
            elif roll < 0.50:
                kind = "secrets"
                content, secrets = self.with_secrets(team, env)
            else:
                kind = "mutated"
                content, secrets = self.mutate(self.base(team, env))
            data = content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass")
            yield Case(number, kind, team, env, data, secrets)


# -- single mutations of valid stack files (the editor/CI parity test) --------------------------------
class Raw(str):
    """A scalar emitted as written, unquoted: how YAML reads it (`yes`, `012`, `1.34`) is the point."""


def emit(data: object, indent: int = 0) -> str:
    """Block-style YAML for a mutant: strings double-quoted (JSON escapes are YAML's), `Raw` as written."""
    pad = " " * indent
    if isinstance(data, dict) and data:
        lines = []
        for key, value in data.items():
            head = f"{pad}{_emit_key(key)}:"
            lines.append(head + (f"\n{emit(value, indent + 2)}" if _block(value) else f" {_scalar(value)}"))
        return "\n".join(lines)
    if isinstance(data, list) and data:
        lines = []
        for item in data:
            text = emit(item, indent + 2) if _block(item) else f"{pad}  {_scalar(item)}"
            lines.append(f"{pad}- {text[indent + 2:]}")
        return "\n".join(lines)
    return pad + _scalar(data)


def _block(value: object) -> bool:
    return isinstance(value, (dict, list)) and bool(value)


def _emit_key(key: object) -> str:
    text = str(key)
    plain = text[:1].isalpha() and all(c.isalnum() or c in "-_./" for c in text) \
        and text.lower() not in ("true", "false", "null", "yes", "no", "on", "off", "y", "n")
    return text if plain or isinstance(key, Raw) else json.dumps(text)


def _scalar(value: object) -> str:
    if isinstance(value, Raw):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return json.dumps(value)


_COUNTS = [0, 1, 2, 3, 5, 6, 8, 20, 21, 50, 1000, 1001, -1, Raw("2.0"), Raw("1e3"), Raw("1e0"), Raw("012"),
           Raw("0x10"), "2", Raw(".inf"), Raw(".nan"), True, None, Raw("yes"), 2.5]
_QUANTITIES = ["16", "500m", "32Gi", "32GB", "-2", "0", 100, -1, 0.5, Raw(".inf"), Raw(".nan"), Raw("-0.0"), "1e3",
               Raw("1e3"), "+5", "64", "600", 600, "1Ti", "65", "257Gi", True, None, Raw("0x40"), "1.5Gi", "2k"]
_NAMES = ["general", "ledger-api", "payments-api", "sandbox-web", "default", "kube-system", "kube-public", "cert-manager",
          "monitoring", "argocd", "ingress-nginx", "kube-metrics", "external-dns", "other-api", "Ledger_API", "x" * 64,
          "a-", "-a", Raw("yes"), 1, None, "ledger", "ledger-" + "x" * 57, "ledger-\n"]
_GROUPS = [[], ["ledger-leads"], ["team:ops@example.com"], ["bad group"], ["a" * 300], [1], None, ["-x"], ["x", "x"]]
_ADDON_WORDS = ["ingress-nginx", "cert-manager", "external-dns", "metrics-server", "kube-prometheus-stack", "argo-cd",
                "linkerd", "baseline", "observability", "gitops", "security", 1, None, "Ingress-Nginx"]
VALUES: dict[str, list[object]] = {
    "team": ["ledger", "payments", "Ledger", "ledger_", "x" * 64, "-x", Raw("yes"), 12, None, "sandbox"],
    "environment": ["dev", "staging", "prod", "qa", "Prod", Raw("on"), None, 1],
    "owners": [[], ["@acme/ledger"], ["@jdoe"], ["acme"], ["@evil\n"], ["@a/b c"], ["@" + "x" * 40], "@acme/x", None,
               [1], ["@acme/ledger", "@acme/ledger"]],
    "provider": ["eks", "local", "existing", "gke", "EKS", None, Raw("yes")],
    "region": ["eu-west-1", "eu-central-1", "us-east-1", "ap-south-1", "eu-west", "EU-WEST-1", Raw("no"), 1, None,
               "us-gov-west-1", "eu-west-1\n"],
    "kubernetesVersion": ["1.33", "1.34", "1.35", "1.36", "1.20", "1.37", Raw("1.34"), Raw("1.30"), "v1.34", None,
                          Raw("1.36"), 134],
    "nodeGroups": [[], None, "general", {}],
    "availabilityZones": [1, 2, 3, 6, 7, Raw("2.0"), Raw("1e0"), "3", Raw("three"), -1, None, 2.5],
    "vpcCidr": ["10.0.0.0/16", "10.0.1.0/16", "10.0.0.0/24", "10.0.0.0/8", "10.16.0.0/20", "10.24.0.0/20",
                "10.0.0.0/17", "10.128.0.0/17", "10.64.0.0/17", "10.0.0.0", "256.0.0.0/16", "010.0.0.0/16",
                "10.0.0.0/255.255.0.0", 16, None, "10.0.0.0/016", " 10.0.0.0/16"],
    "publicEndpoint": [True, False, Raw("yes"), Raw("off"), Raw("True"), "true", 1, None, Raw("y")],
    "kubeconfigSecret": ["kubeconfig", "kc-ledger", "1kc", "kc space", "S3cr3t!", None, "ghp_" + "a1B2" * 9],
    "name": _NAMES,
    "instanceType": ["m6i.large", "t3.large", "t3.medium", "c6i.xlarge", "r6i.large", "x1.32xlarge", "m6i", "M6I.large",
                     None, 5],
    "minSize": _COUNTS, "desiredSize": _COUNTS, "maxSize": _COUNTS,
    "diskSizeGib": [19, 20, 50, 16384, 16385, Raw("50.0"), "50", None, Raw("5e1")],
    "capacityType": ["ON_DEMAND", "SPOT", "spot", "RESERVED", None, Raw("yes")],
    "labels": [{}, {"tier": "web"}, {"k8s.io/role": "x"}, {"Bad Key": "x"}, {"tier": 1}, {"tier": "-x"},
               {"tier": "x" * 64}, [], None, {"tier": Raw("yes")}, {"example.com/tier": ""}],
    "bundles": [[], ["baseline"], ["observability"], ["gitops"], ["baseline", "baseline"], ["security"], None, "baseline"],
    "enable": [[], ["external-dns"], ["cert-manager"], ["linkerd"], ["argo-cd"], ["kube-prometheus-stack"], None,
               ["metrics-server"]],
    "disable": [[], ["cert-manager"], ["external-dns"], ["kube-prometheus-stack"], ["argo-cd"], ["linkerd"], None,
                ["metrics-server"], ["ingress-nginx"]],
    "values": [{}, {"argo-cd": {"x": 1}}, {"external-dns": {"x": 1}}, {"nginx": {}}, {"ingress-nginx": 5},
               {"ingress-nginx": {"controller": {"enabled": Raw("no")}}}, {"metrics-server": {"args": [Raw("on")]}},
               {"cert-manager": {"password": "hunter2hunter2"}}, None, {"kube-prometheus-stack": {"a": {"<<": {}}}}],
    "quota": [None, {}, {"cpu": "4"}, {"cpu": "4", "memory": "8Gi", "pods": 20}, "big",
              {"cpu": "64", "memory": "256Gi", "pods": 500}, {"cpu": "65", "memory": "8Gi", "pods": 20}],
    "cpu": _QUANTITIES, "memory": _QUANTITIES, "pods": _QUANTITIES,
    "admins": _GROUPS, "developers": _GROUPS, "viewers": _GROUPS,
    "tags": [{}, {"costCenter": "cc-4411"}, {"team": "x"}, {"managed-by": "me"}, {"bad key!": "x"}, {"x" * 129: "x"},
             {"backup": Raw("yes")}, {"n": 12}, {"long": "x" * 257}, None, [], {"Team": "x"}],
    "addons": [{}, None, [], {"bundles": ["baseline"]}],
    "namespaces": [[], None, {}, [{"name": "x"}]],
    "cluster": [{}, None, {"provider": "local"}, {"provider": "existing"}],
}
"""Values a key is set to: valid ones, near misses and wrong types (by the key's name)."""
ITEMS: dict[str, list[object]] = {
    "owners": ["@acme/ops", "@jdoe", "acme", "@x y", 5, None], "bundles": _ADDON_WORDS, "enable": _ADDON_WORDS,
    "disable": _ADDON_WORDS, "admins": ["ops", "bad group", 1, None], "developers": ["devs", "", None],
    "viewers": ["support", "a" * 254],
    "nodeGroups": [{"name": "extra", "instanceType": "m6i.large", "minSize": 1, "desiredSize": 1, "maxSize": 2},
                   {"name": "extra", "instanceType": "t3.large", "minSize": 1, "desiredSize": 1, "maxSize": 2},
                   {"name": "batch", "instanceType": "m6i.large", "minSize": 0, "desiredSize": 0, "maxSize": 30},
                   {"name": "x"}, "general", None],
    "namespaces": [{"name": "extra"}, {"name": "default"}, {"name": "monitoring", "quota": {"cpu": "1", "memory": "1Gi",
                                                                                           "pods": 1}}, None, "ns"],
}
"""Items appended to a list (by the list's key); a copy of an existing item is the other choice."""
KEYS: dict[str, list[str]] = {
    "": ["team", "environment", "owners", "cluster", "addons", "namespaces", "tags", "owner", "addon", "quota"],
    "cluster": ["provider", "region", "kubernetesVersion", "nodeGroups", "availabilityZones", "vpcCidr",
                "publicEndpoint", "kubeconfigSecret", "regoin", "nodegroups", "version"],
    "nodeGroups": ["name", "instanceType", "minSize", "desiredSize", "maxSize", "diskSizeGib", "capacityType", "labels",
                   "diskSizeGiB", "spot"],
    "namespaces": ["name", "quota", "admins", "developers", "viewers", "editors"],
    "quota": ["cpu", "memory", "pods", "storage"],
    "addons": ["bundles", "enable", "disable", "values", "bundle"],
    "tags": ["backup", "team", "environment", "Owner", "a b", "k" * 129],
    "labels": ["tier", "Tier", "k8s.io/x", "-bad"],
    "values": ["argo-cd", "external-dns", "nginx", "metrics-server"],
}
"""Keys added to a mapping (by the mapping's own key): the valid ones, another provider's, typos."""


@dataclass(frozen=True)
class Mutant:
    number: int
    base: str
    operation: str
    path: str
    content: str


class StackMutator:
    """Seeded single mutations of valid stack files: set a value, delete or add a key, append, copy or remove a
    list item (data mutations, emitted as YAML), or one of `Generator.mutate`'s text edits. Same seed, same
    mutants."""

    def __init__(self, seed: int, bases: dict[str, tuple[str, str, dict]]):
        self.rng = random.Random(seed)
        self.text_edits = Generator(seed)
        self.text_edits.rng = self.rng
        self.bases = bases
        """name -> (path in the repository, text, data)."""

    def mutants(self, count: int, text_share: float = 0.25) -> Iterator[Mutant]:
        names = sorted(self.bases)
        for number in range(count):
            name = self.rng.choice(names)
            path, text, data = self.bases[name]
            if self.rng.random() < text_share:
                content, _ = self.text_edits.mutate(text)
                yield Mutant(number, name, "text", path, content)
                continue
            mutated = copy.deepcopy(data)
            operation = self._mutate(mutated)
            yield Mutant(number, name, operation, path, emit(mutated) + "\n")

    def _nodes(self, data: object, loc: tuple = ()) -> Iterator[tuple[tuple, object]]:
        yield loc, data
        if isinstance(data, dict):
            for key, value in data.items():
                yield from self._nodes(value, loc + (key,))
        elif isinstance(data, list):
            for index, value in enumerate(data):
                yield from self._nodes(value, loc + (index,))

    @staticmethod
    def _name(loc: tuple) -> str:
        """The key a location is under: its own, or its list's."""
        for part in reversed(loc):
            if isinstance(part, str):
                return part
        return ""

    def _mutate(self, data: dict) -> str:
        rng = self.rng
        nodes = list(self._nodes(data))
        for _ in range(20):
            op = rng.choice(("set", "set", "set", "delete", "add", "add", "append", "remove"))
            loc, node = rng.choice(nodes)
            where = ".".join(map(str, loc)) or "(top)"
            if op == "set" and loc:
                pool = VALUES.get(self._name(loc))
                if pool is None or isinstance(loc[-1], int):
                    pool = ITEMS.get(self._name(loc))
                if not pool:
                    continue
                self._parent(data, loc)[loc[-1]] = copy.deepcopy(rng.choice(pool))
                return f"set {where}"
            if op == "delete" and isinstance(node, dict) and node:
                key = rng.choice(list(node))
                del node[key]
                return f"delete {where}.{key}"
            if op == "add" and isinstance(node, dict):
                key = rng.choice(KEYS.get(self._name(loc), KEYS[""]))
                node[key] = copy.deepcopy(rng.choice(VALUES.get(key, VALUES["tags"][1:3] + [1, "x"])))
                return f"add {where}.{key}"
            if op == "append" and isinstance(node, list):
                pool = ITEMS.get(self._name(loc))
                if node and (not pool or rng.random() < 0.4):
                    node.append(copy.deepcopy(rng.choice(node)))
                    return f"copy item {where}"
                if pool:
                    node.append(copy.deepcopy(rng.choice(pool)))
                    return f"append {where}"
            if op == "remove" and isinstance(node, list) and node:
                del node[rng.randrange(len(node))]
                return f"remove item {where}"
        return "none"

    @staticmethod
    def _parent(data: object, loc: tuple) -> object:
        for part in loc[:-1]:
            data = data[part]  # type: ignore[index]
        return data
