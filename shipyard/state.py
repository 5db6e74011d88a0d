"""Where stack state lives and how its secrets are encrypted: decided once, before the engine runs.

The dangerous failure is a silent fallback. In CI an unset secret arrives as an empty string: an empty
`PULUMI_BACKEND_URL` used to fall back to a file backend inside the runner's workspace (an `up` then
creates a second copy of every cloud resource and the state is thrown away with the runner), and an
empty passphrase to a freshly generated one. So:

- a variable that is *set but empty* is always an error naming it;
- in CI (`CI=true`), or whenever the state is shared (`PULUMI_BACKEND_URL` set), a missing backend or
  secrets configuration is an error naming what to set; nothing is created;
- only a plain local run without `PULUMI_BACKEND_URL` gets the defaults: a file backend under
  `$SHIPYARD_HOME/state` and a generated passphrase kept at `$SHIPYARD_HOME/passphrase` (mode 0600),
  announced once.

Messages name variables, never their values: a backend URL may carry credentials
(`postgres://user:password@...`) and a passphrase is a secret.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from shipyard.errors import ShipyardError

BACKEND_VAR = "PULUMI_BACKEND_URL"
PASSPHRASE_VAR = "PULUMI_CONFIG_PASSPHRASE"
PASSPHRASE_FILE_VAR = "PULUMI_CONFIG_PASSPHRASE_FILE"
PROVIDER_VAR = "SHIPYARD_SECRETS_PROVIDER"
ANNOUNCED_VAR = "SHIPYARD_STATE_ANNOUNCED"
"""Set once the local default was announced, so parallel stack workers (child processes) stay quiet."""

# Backends the Pulumi CLI understands (DIY blob/file/postgres backends and Pulumi Cloud).
BACKEND_SCHEMES = ("s3", "gs", "azblob", "file", "postgres", "https", "http")
# Secrets providers `pulumi stack init --secrets-provider` accepts.
CLOUD_SECRETS_SCHEMES = ("awskms", "azurekeyvault", "gcpkms", "hashivault")
EXAMPLE_BACKEND = "s3://BUCKET?region=REGION"
EXAMPLE_PROVIDER = "awskms://alias/NAME?region=REGION"


class StateConfigError(ShipyardError):
    """The state backend or secrets configuration is missing, empty or malformed; nothing was run."""


@dataclass(frozen=True)
class StateSettings:
    """What the engine is given: the backend, the secrets provider new stacks are created with, and the
    environment variables that carry them to the Pulumi CLI."""

    backend_url: str
    secrets_provider: str
    """`passphrase` or a cloud KMS URL; used when a stack is created (an existing stack keeps its own)."""
    shared: bool
    """True when the state is somewhere other checkouts can reach (PULUMI_BACKEND_URL was given)."""
    env: dict[str, str] = field(default_factory=dict)
    notice: str | None = None
    """The one line said about the local default, or None."""


def is_ci(environ: Mapping[str, str]) -> bool:
    return environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def resolve_state(environ: Mapping[str, str], home: Path) -> StateSettings:
    """The state settings for this environment; raises `StateConfigError` naming the variable to fix."""
    ci = is_ci(environ)
    where = " in CI (CI=true)" if ci else ""
    backend = _nonblank(environ, BACKEND_VAR, f"set it to the shared state backend, e.g. {EXAMPLE_BACKEND}")
    if backend is None and ci:
        raise StateConfigError(
            f"{BACKEND_VAR} is not set: in CI (CI=true) Shipyard never falls back to a file backend inside the "
            f"runner, whose state would be thrown away with it; set {BACKEND_VAR} to the shared state backend "
            f"(e.g. {EXAMPLE_BACKEND}); nothing was created")
    shared = backend is not None
    if backend is not None:
        # Without "://" whatever precedes a colon is no scheme but possibly the start of a credential.
        scheme = urlsplit(backend).scheme.lower() if "://" in backend else ""
        if scheme not in BACKEND_SCHEMES:
            named = f"the scheme '{scheme}'" if scheme.isalnum() and len(scheme) <= 16 else "no scheme Pulumi knows"
            raise StateConfigError(
                f"{BACKEND_VAR} has {named}, which is not a Pulumi state backend; use "
                f"one of {', '.join(s + '://' for s in BACKEND_SCHEMES)} (e.g. {EXAMPLE_BACKEND})")

    provider = _nonblank(environ, PROVIDER_VAR, f"set it to a KMS key (e.g. {EXAMPLE_PROVIDER}) or unset it")
    if provider is not None and provider != "passphrase":
        scheme = urlsplit(provider).scheme.lower()
        if scheme not in CLOUD_SECRETS_SCHEMES:
            raise StateConfigError(
                f"{PROVIDER_VAR} must be `passphrase` or a key URL with one of the schemes "
                f"{', '.join(s + '://' for s in CLOUD_SECRETS_SCHEMES)} (e.g. {EXAMPLE_PROVIDER})")
    passphrase = _nonblank(environ, PASSPHRASE_VAR, "set it to the state passphrase, or use a KMS key "
                                                    f"({PROVIDER_VAR}={EXAMPLE_PROVIDER}) and unset it")
    passphrase_file = _nonblank(environ, PASSPHRASE_FILE_VAR, "set it to a file holding the passphrase, or unset it")
    if passphrase_file is not None and not Path(passphrase_file).is_file():
        raise StateConfigError(f"{PASSPHRASE_FILE_VAR} names a file that does not exist")

    env = {BACKEND_VAR: backend or _local_backend(home).as_uri(),
           # A checkout without its own stack config file (a fresh CI clone) uses the secrets manager
           # recorded in the state instead of inventing a new one that could not read it.
           "PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER": "true"}
    if passphrase is not None:
        env[PASSPHRASE_VAR] = passphrase
    if passphrase_file is not None:
        env[PASSPHRASE_FILE_VAR] = passphrase_file
    chosen = provider or "passphrase"
    if chosen == "passphrase" and passphrase is None and passphrase_file is None:
        if ci or shared:
            raise StateConfigError(
                f"no secrets configuration{where or ' for the shared state'}: set {PROVIDER_VAR} to a KMS key "
                f"(recommended, e.g. {EXAMPLE_PROVIDER}; no passphrase is then needed) or {PASSPHRASE_VAR} to "
                "the passphrase the stacks were created with; nothing was created")
        env[PASSPHRASE_VAR] = _local_passphrase(home)
    notice = None
    if not shared:
        _local_backend(home).mkdir(parents=True, exist_ok=True)
    if not shared and not environ.get(ANNOUNCED_VAR):
        notice = (f"state: local file backend at {_local_backend(home)} (this checkout only; set {BACKEND_VAR} "
                  "to share state with CI and other checkouts)")
    return StateSettings(env[BACKEND_VAR], chosen, shared, env, notice)


def _nonblank(environ: Mapping[str, str], name: str, fix: str) -> str | None:
    """The variable's value; None when unset; an error when set but blank (an unset CI secret)."""
    if name not in environ:
        return None
    value = environ[name]
    if not value.strip():
        raise StateConfigError(f"{name} is set but empty (an unset CI secret arrives as an empty string); {fix}; "
                               "nothing was created")
    return value


def _local_backend(home: Path) -> Path:
    return home / "state"


def _local_passphrase(home: Path) -> str:
    """This checkout's generated passphrase, created on first use."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "passphrase"
    if not path.is_file():
        # Written under a temporary name and linked into place: a concurrent reader never sees half a
        # passphrase, and the loser of a race keeps the winner's.
        temp = home / f".passphrase.{os.getpid()}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
        try:
            os.link(temp, path)
        except FileExistsError:
            pass
        finally:
            temp.unlink()
    return path.read_text().strip()
