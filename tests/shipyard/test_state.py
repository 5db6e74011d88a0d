"""Where state lives and how secrets are encrypted: no silent fallback from an empty or missing CI secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.state import StateConfigError, resolve_state

KMS = "awskms://alias/shipyard-state?region=eu-west-1"
S3 = "s3://acme-shipyard-state?region=eu-west-1"


def test_local_default_is_a_file_backend_and_generated_passphrase_announced_once(tmp_path: Path):
    settings = resolve_state({}, tmp_path)
    assert settings.backend_url == (tmp_path / "state").as_uri()
    assert (tmp_path / "state").is_dir()
    assert not settings.shared
    assert settings.secrets_provider == "passphrase"
    passphrase = settings.env["PULUMI_CONFIG_PASSPHRASE"]
    assert len(passphrase) >= 32
    assert (tmp_path / "passphrase").stat().st_mode & 0o777 == 0o600
    assert "local file backend" in settings.notice and str(tmp_path / "state") in settings.notice
    again = resolve_state({"SHIPYARD_STATE_ANNOUNCED": "1"}, tmp_path)
    assert again.notice is None
    assert again.env["PULUMI_CONFIG_PASSPHRASE"] == passphrase  # kept, never regenerated


@pytest.mark.parametrize("variable", ["PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "SHIPYARD_SECRETS_PROVIDER",
                                      "PULUMI_CONFIG_PASSPHRASE_FILE"])
@pytest.mark.parametrize("ci", [True, False])
def test_a_set_but_empty_variable_is_an_error_naming_it_and_creates_nothing(tmp_path: Path, variable: str, ci: bool):
    environ = {"PULUMI_BACKEND_URL": S3, "SHIPYARD_SECRETS_PROVIDER": KMS, variable: "  "}
    if ci:
        environ["CI"] = "true"
    with pytest.raises(StateConfigError, match=f"{variable} is set but empty"):
        resolve_state(environ, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_ci_without_a_backend_is_an_error_naming_the_variable(tmp_path: Path):
    with pytest.raises(StateConfigError, match="PULUMI_BACKEND_URL is not set: in CI") as error:
        resolve_state({"CI": "true", "PULUMI_CONFIG_PASSPHRASE": "hunter2-hunter2"}, tmp_path)
    assert "hunter2" not in str(error.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("environ", [{"CI": "true", "PULUMI_BACKEND_URL": S3}, {"PULUMI_BACKEND_URL": S3}])
def test_shared_state_without_secrets_configuration_is_an_error(tmp_path: Path, environ: dict):
    with pytest.raises(StateConfigError, match="SHIPYARD_SECRETS_PROVIDER .*PULUMI_CONFIG_PASSPHRASE"):
        resolve_state(environ, tmp_path)
    assert not (tmp_path / "passphrase").exists()


def test_kms_needs_no_passphrase_anywhere(tmp_path: Path):
    settings = resolve_state({"CI": "true", "PULUMI_BACKEND_URL": S3, "SHIPYARD_SECRETS_PROVIDER": KMS}, tmp_path)
    assert settings.shared and settings.secrets_provider == KMS
    assert settings.env["PULUMI_BACKEND_URL"] == S3
    assert "PULUMI_CONFIG_PASSPHRASE" not in settings.env
    assert settings.env["PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER"] == "true"
    assert settings.notice is None
    assert list(tmp_path.iterdir()) == []


def test_a_passphrase_from_ci_is_used_as_given(tmp_path: Path):
    settings = resolve_state({"CI": "true", "PULUMI_BACKEND_URL": S3, "PULUMI_CONFIG_PASSPHRASE": "from-ci-secret"},
                             tmp_path)
    assert settings.secrets_provider == "passphrase"
    assert settings.env["PULUMI_CONFIG_PASSPHRASE"] == "from-ci-secret"


@pytest.mark.parametrize("url", ["ftp://bucket", "bucket-name", "postgress://x", "s3cr3t:tok@host"])
def test_a_backend_url_that_is_no_backend_is_refused_without_echoing_it(tmp_path: Path, url: str):
    with pytest.raises(StateConfigError, match="not a Pulumi state backend") as error:
        resolve_state({"PULUMI_BACKEND_URL": url + "?token=s3cr3t", "PULUMI_CONFIG_PASSPHRASE": "p"}, tmp_path)
    assert "s3cr3t" not in str(error.value)


@pytest.mark.parametrize("provider", ["kms://alias/x", "alias/x", "awskms"])
def test_an_unknown_secrets_provider_is_refused(tmp_path: Path, provider: str):
    with pytest.raises(StateConfigError, match="SHIPYARD_SECRETS_PROVIDER must be"):
        resolve_state({"PULUMI_BACKEND_URL": S3, "SHIPYARD_SECRETS_PROVIDER": provider}, tmp_path)


def test_passphrase_file_must_exist(tmp_path: Path):
    with pytest.raises(StateConfigError, match="PULUMI_CONFIG_PASSPHRASE_FILE names a file that does not exist"):
        resolve_state({"PULUMI_BACKEND_URL": S3, "PULUMI_CONFIG_PASSPHRASE_FILE": str(tmp_path / "nope")}, tmp_path)
    secret = tmp_path / "pass"
    secret.write_text("from-a-file")
    settings = resolve_state({"PULUMI_BACKEND_URL": S3, "PULUMI_CONFIG_PASSPHRASE_FILE": str(secret)}, tmp_path)
    assert settings.env["PULUMI_CONFIG_PASSPHRASE_FILE"] == str(secret)
    assert "PULUMI_CONFIG_PASSPHRASE" not in settings.env
