"""A seeded generator of hostile and mutated stack files, for `tests/shipyard/test_fuzz.py`.

Same seed, same files: a failure reproduces with the seed and case number it names. Cases come from
three sources: structures known to break YAML tooling (deep block and flow nesting, alias bombs,
anchors reused deeper, huge anchors repeated, recursive aliases, bad tags, YAML 1.1 values, several
documents, control characters, invalid UTF-8, oversized files), valid stack files with secrets put
where rules also quote values, and valid stack files mutated at random (lines deleted, duplicated,
swapped, re-indented, truncated; hostile tokens and values spliced in).

`Case.secrets` lists the credentials a case contains. Only credentials recognisable by their shape are
listed (a key-based secret stops being one when a mutation renames its key): none may ever appear in
any output.
"""

from __future__ import annotations

import base64
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
