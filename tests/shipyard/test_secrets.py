"""Secret detection: keys by their words, values by their shape, and the one redaction helper."""

from __future__ import annotations

import base64

import pytest

from shipyard.secrets import REDACTED, Redactor, credential_shape, find_secrets, key_kind

GITHUB = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
FINE_GRAINED = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXY"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n"
PGP = "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF\n-----END PGP PRIVATE KEY BLOCK-----"
CERT = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n"


def _flagged(data) -> list[tuple]:
    return [s.loc for s in find_secrets(data)]


@pytest.mark.parametrize("key", ["password", "adminPassword", "DB_PASSWORD", "db-pass", "pwd", "passwd", "secretKey",
                                 "secret_key", "apiKey", "x-api-key", "APIKey", "clientSecret", "authToken",
                                 "privateKey", "awsSecretAccessKey", "passphrase", "existingSecretPassword",
                                 "connectionString", "webhookUrl", "credentials"])
def test_keys_naming_a_credential_are_found_by_their_words(key):
    assert key_kind(key) == "credential"
    assert _flagged({key: "literal"}) == [(key,)]


@pytest.mark.parametrize("key", ["bypass", "compass", "passthrough", "pass_through", "passwordPolicy", "tokenTtl",
                                 "secretName", "passwordSecretRef", "secretKeyRef", "tokenizer", "imagePullSecrets",
                                 "keyName", "monkey", "secretary", "maxTokens", "passwordMinLength"])
def test_ordinary_words_are_not_credentials(key):
    assert key_kind(key) != "credential"
    assert _flagged({key: "some-value"}) == []


@pytest.mark.parametrize("value", [123456, 3.14, "x"])
def test_any_literal_under_a_credential_key_is_one_even_a_number(value):
    assert _flagged({"auth": {"password": value}}) == [("auth", "password")]


@pytest.mark.parametrize("value", [True, None, "", "   ", {}, []])
def test_flags_and_empty_values_are_not_credentials(value):
    assert _flagged({"password": value}) == []


def test_references_are_fine_when_they_hold_a_name():
    data = {"existingSecret": "db-credentials", "kubeconfigSecret": "kubeconfig", "passwordSecretName": "admin",
            "existingSecretPasswordKey": "password", "tlsSecret": "wildcard-tls",
            "password": {"secretKeyRef": {"name": "db", "key": "password"}}}
    assert _flagged(data) == []


@pytest.mark.parametrize("data, loc", [
    ({"existingSecret": "S3cr3t!Pa55 word"}, ("existingSecret",)),
    ({"existingSecret": GITHUB}, ("existingSecret",)),
    ({"existingSecretPassword": "literal"}, ("existingSecretPassword",)),
])
def test_reference_keys_holding_a_literal_are_secrets(data, loc):
    assert _flagged(data) == [loc]


def test_a_credential_key_passes_its_sensitivity_to_nested_values():
    assert _flagged({"password": {"value": "hunter2"}}) == [("password", "value")]
    assert _flagged({"auth": {"adminPassword": {"plain": {"value": "hunter2"}}}}) == [
        ("auth", "adminPassword", "plain", "value")]


def test_env_lists_name_the_credential_next_to_its_value():
    env = {"env": [{"name": "DB_PASSWORD", "value": "hunter2"}, {"name": "LOG_LEVEL", "value": "debug"},
                   {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "t", "key": "token"}}}]}
    assert _flagged(env) == [("env", 0, "value")]


@pytest.mark.parametrize("value, what", [
    (GITHUB, "GitHub"), (FINE_GRAINED, "GitHub"), ("xoxb-123456789012-abcdefghijkl", "Slack"),
    ("AIza" + "S" * 35, "Google"), ("AKIAABCDEFGHIJKLMNOP", "AWS"), (JWT, "JSON Web Token"), (PEM, "private key"),
    (PGP, "private key"), (base64.b64encode(PEM.encode()).decode(), "base64"),
    ("postgres://app:hunter2@db.internal:5432/app", "URL with a password"),
    ("redis://:hunter2@cache:6379", "URL with a password"), ("https://hooks.slack.com/services/T0/B0/abc", "Slack"),
    ("glpat-abcdefghijklmnopqrst", "GitLab"),
])
def test_credentials_are_found_by_shape_whatever_their_key(value, what):
    assert _flagged({"annotations": {"note": value}}) == [("annotations", "note")]
    assert what in find_secrets({"note": value})[0].message
    assert value not in find_secrets({"note": value})[0].message


@pytest.mark.parametrize("value", ["https://example.com:8443/path", "git@github.com:org/repo.git", "eu-west-1",
                                   "user@example.com", base64.b64encode(CERT.encode()).decode(), CERT,
                                   "ghp_short", "https://user@example.com/", "AKIA-not-a-key", "m6i.large"])
def test_ordinary_values_are_not_credentials(value):
    assert credential_shape(value) is None and _flagged({"v": value}) == []


def test_a_key_shaped_like_a_credential_is_found():
    assert _flagged({"tags": {GITHUB: "x"}}) == [("tags", GITHUB)]
    assert GITHUB not in find_secrets({"tags": {GITHUB: "x"}})[0].message


def test_the_redactor_removes_a_value_whole_shortened_and_escaped():
    long_secret = "postgres://app:" + "p" * 120 + "@db/app"
    redact = Redactor([GITHUB, long_secret, "line1\nline2secret"])
    from shipyard.errors import shown

    for text in (f"'{GITHUB}' is bad", f"got '{shown(long_secret)}'", f"x {shown('line1' + chr(10) + 'line2secret')}"):
        cleaned = redact(text)
        assert REDACTED in cleaned and GITHUB not in cleaned and "ppppp" not in cleaned and "line2secret" not in cleaned


def test_a_short_secret_is_redacted_where_quoted_only():
    redact = Redactor(["a"])
    assert redact("'a' is not a GitHub user") == f"'{REDACTED}' is not a GitHub user"
