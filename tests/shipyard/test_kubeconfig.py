"""A kubeconfig handed to `shipyard config set-kubeconfig` must work on a CI runner, and is never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.kubeconfig import KubeconfigError, read_kubeconfig

GOOD = """apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443", certificate-authority-data: Q0EtREFUQS1TRUNSRVQ=}
users:
- name: u
  user: {token: tok-0123456789-secret}
contexts:
- name: ctx
  context: {cluster: c, user: u}
current-context: ctx
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    return path


def test_a_self_contained_kubeconfig_is_read_as_is(tmp_path: Path):
    assert read_kubeconfig(_write(tmp_path, GOOD)) == GOOD


@pytest.mark.parametrize("field,replacement", [
    ("certificate-authority-data: Q0EtREFUQS1TRUNSRVQ=", "certificate-authority: /home/me/ca.crt"),
    ("token: tok-0123456789-secret", "client-key: /home/me/key.pem"),
    ("token: tok-0123456789-secret", "tokenFile: /var/run/token"),
])
def test_references_to_local_files_are_refused_with_the_fix(tmp_path: Path, field: str, replacement: str):
    with pytest.raises(KubeconfigError, match="refers to a local file .*--flatten") as error:
        read_kubeconfig(_write(tmp_path, GOOD.replace(field, replacement)))
    assert "/home/me" not in str(error.value) and "/var/run" not in str(error.value)


@pytest.mark.parametrize("text,message", [
    ("just: a mapping\n", "not a kubeconfig"),
    ("- a\n- list\n", "not a kubeconfig"),
    ("kind: Config\nclusters: [{name: c}]\n", "no current context"),
    ("kind: Config\nclusters: [x]\ncontexts: [{name: c}]\ncurrent-context: c\n", "must be a list of named entries"),
    ("kind: Config\nclusters: {a: 1}\ncontexts: [{name: c}]\ncurrent-context: c\n", "must be a list of named entries"),
    ("key: [unclosed\n", "not valid YAML"),
    ("a: &x [1]\nb: *x\n", "not valid YAML"),
])
def test_what_is_not_a_usable_kubeconfig_gets_a_clear_error_without_its_content(tmp_path: Path, text: str,
                                                                                message: str):
    with pytest.raises(KubeconfigError, match=message) as error:
        read_kubeconfig(_write(tmp_path, text))
    assert "unclosed" not in str(error.value) and "mapping" not in str(error.value)


def test_huge_binary_and_missing_files_are_refused(tmp_path: Path):
    with pytest.raises(KubeconfigError, match="not a regular file"):
        read_kubeconfig(tmp_path / "absent")
    with pytest.raises(KubeconfigError, match="not a regular file"):
        read_kubeconfig(tmp_path)
    big = tmp_path / "big"
    big.write_text("a" * (1024 * 1024 + 1))
    with pytest.raises(KubeconfigError, match="larger than 1024 KiB"):
        read_kubeconfig(big)
    binary = tmp_path / "bin"
    binary.write_bytes(b"\xff\xfe\x00kind")
    with pytest.raises(KubeconfigError, match="UTF-8"):
        read_kubeconfig(binary)
