"""Copies of this platform repository for tests that change files."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PARTS = ("Pulumi.yaml", "__main__.py", "components", "addons", "stacks", "tools.toml", "shipyard", "pyproject.toml",
         "policy.yaml", "pricing", "policies")


def copy_platform(root: Path, parts: tuple[str, ...] = PARTS) -> Path:
    root.mkdir(parents=True)
    for part in parts:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, root / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, root / part)
    return root
