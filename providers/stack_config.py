"""Stack config files as they stand now: `{stackConfigDir}/Pulumi.{stack}.yaml` beside `Pulumi.yaml`.

`pulumi destroy` runs no program, and the engine configures providers with the config
recorded at the last `up` (measured with Pulumi v3.274.1: a `retainOnDelete` set since then
does not reach `configure`). So `delete` reads the stack's file itself, the provider process
running in the project directory. `fleet` lists the stacks from the same files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["config_dir", "secret_keys", "stack_config", "stack_files"]


def config_dir(project_dir: Path) -> Path:
    """Where the project keeps its stack config files (Pulumi.yaml's stackConfigDir)."""
    directory = _load(project_dir / "Pulumi.yaml").get("stackConfigDir")
    return project_dir / (directory if isinstance(directory, str) else ".")


def stack_files(project_dir: Path) -> dict[str, Path]:
    """Stack name → its config file, for every stack of the project."""
    files = sorted(config_dir(project_dir).glob("Pulumi.*.yaml"))
    return {path.name.removeprefix("Pulumi.").removesuffix(".yaml"): path for path in files}


def stack_config(stack: str, project_dir: Path | None = None) -> dict[str, Any] | None:
    """The stack's plaintext config now (secrets, which are dicts, left out); None when it has no readable file."""
    path = config_dir(project_dir or Path.cwd()) / f"Pulumi.{stack}.yaml"
    loaded = _load(path)
    if not loaded and not path.is_file():
        return None
    config = loaded.get("config")
    if not isinstance(config, dict):
        return {}
    return {key: _plain(value) for key, value in config.items() if not isinstance(value, dict)}


def secret_keys(stack: str, project_dir: Path | None = None) -> list[str]:
    """The keys the stack's file holds encrypted (`secure:`), which `stack_config` leaves out."""
    config = _load(config_dir(project_dir or Path.cwd()) / f"Pulumi.{stack}.yaml").get("config")
    if not isinstance(config, dict):
        return []
    return [key for key, value in config.items() if isinstance(value, dict) and "secure" in value]


def _plain(value: Any) -> Any:
    """YAML reads an unquoted true as a boolean; Pulumi's config is text."""
    return ("true" if value else "false") if isinstance(value, bool) else value


def _load(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return loaded if isinstance(loaded, dict) else {}
