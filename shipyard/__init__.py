"""Shipyard: GitOps self-service Kubernetes clusters on Pulumi."""

__version__ = "0.1.0"

import os as _os

# pydantic looks for third-party plugins through importlib.metadata on first use, which costs ~0.1 s
# per process; Shipyard uses none, and `shipyard validate` has a one-second budget for 1,000 files.
_os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
