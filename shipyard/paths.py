"""Where Shipyard keeps machine-local state: `$SHIPYARD_HOME` (default `<repo>/.shipyard`, git-ignored)."""

from __future__ import annotations

import os
from pathlib import Path


def shipyard_home(root: Path) -> Path:
    return Path(os.environ.get("SHIPYARD_HOME") or root / ".shipyard").resolve()


def local_kubeconfig(root: Path) -> Path:
    return shipyard_home(root) / "local" / "kubeconfig"


def tools_dir() -> Path:
    return Path(os.environ.get("SHIPYARD_TOOLS") or Path.home() / ".cache" / "shipyard" / "tools").resolve()
