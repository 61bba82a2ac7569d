"""A stack's config as it stands in its file now, for the one decision made without the program.

`pulumi destroy` runs no program, and the engine configures providers with the config
recorded at the last `up` (measured with Pulumi v3.274.1: a `retainOnDelete` set since then
does not reach `configure`). So `delete` reads `bitlocker-policy:retainOnDelete` from the
stack's config file itself: `{stackConfigDir}/Pulumi.{stack}.yaml` beside `Pulumi.yaml`,
the provider process running in the project directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["current_value"]


def current_value(stack: str, key: str, project_dir: Path | None = None) -> str | None:
    """The plaintext value of `key` in the stack's config file, or None when it is not there."""
    root = project_dir or Path.cwd()
    project = _load(root / "Pulumi.yaml")
    config_dir = project.get("stackConfigDir") if isinstance(project.get("stackConfigDir"), str) else "."
    config = _load(root / str(config_dir) / f"Pulumi.{stack}.yaml").get("config")
    value = config.get(key) if isinstance(config, dict) else None
    if isinstance(value, bool):  # YAML reads an unquoted true as a boolean
        return "true" if value else "false"
    return None if value is None or isinstance(value, dict) else str(value)  # a dict is an encrypted secret


def _load(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return loaded if isinstance(loaded, dict) else {}
