"""Stack config files as they stand now: `{stackConfigDir}/Pulumi.{stack}.yaml` beside `Pulumi.yaml`.

`fleet` lists the stacks from them; a `delete` that no program ran before reads them for
retainOnDelete (providers/config/retention.py), the provider process running in the project directory.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from providers.common.errors import ConfigurationError
from providers.common.files import read_regular_file

__all__ = ["StackConfig", "config_dir", "is_stack_name", "project_values", "read_stack_config", "stack_files"]

# Pulumi's own rule (pulumi/pulumi, sdk/go/common/tokens/stack_name.go, ParseStackName).
_STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


@dataclass(frozen=True)
class StackConfig:
    """One stack's config file: its plaintext values, the keys it holds encrypted (`secure:`, whole or in part), and
    the Pulumi ESC environments it imports (`environment:`), whose values only the CLI can read."""

    plain: Mapping[str, Any]
    secret_keys: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()

    def over(self, project: Mapping[str, Any]) -> StackConfig:
        """This config with Pulumi.yaml's values (`project_values`) for the keys it does not set, as the CLI merges
        them (pulumi/pulumi pkg/workspace/config.go, mergeConfig)."""
        unset = {key: value for key, value in project.items() if key not in self.plain and key not in self.secret_keys}
        return StackConfig({**unset, **self.plain}, self.secret_keys, self.environments)


def is_stack_name(name: str) -> bool:
    """Whether Pulumi accepts `name` as a stack name."""
    return _STACK_NAME.fullmatch(name) is not None


def config_dir(project_dir: Path) -> Path:
    """Where the project keeps its stack config files (Pulumi.yaml's stackConfigDir)."""
    try:
        project = _mapping(project_dir / "Pulumi.yaml")
    except ConfigurationError:
        project = {}
    directory = project.get("stackConfigDir")
    return project_dir / (directory if isinstance(directory, str) else ".")


def stack_files(project_dir: Path) -> dict[str, Path]:
    """Stack name → its config file, for every stack of the project."""
    files = sorted(config_dir(project_dir).glob("Pulumi.*.yaml"))
    return {path.name.removeprefix("Pulumi.").removesuffix(".yaml"): path for path in files}


def read_stack_config(path: Path) -> StackConfig:
    """The stack file's config; a ConfigurationError saying why when the file cannot be used."""
    content = _mapping(path)
    config = content.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigurationError(f"{path}: `config:` must be a mapping of keys to values")
    imported = content.get("environment")
    environments = [] if imported is None else imported if isinstance(imported, list) else [imported]
    secret = tuple(key for key, value in config.items() if _holds_secret(value))
    return StackConfig(
        {key: _plain(value) for key, value in config.items() if key not in secret},  # structured values kept as mappings
        secret,
        tuple(str(name) for name in environments),
    )


def project_values(project_dir: Path) -> dict[str, Any]:
    """What Pulumi.yaml's `config:` gives each key (namespace:name) when no stack sets it: a `value`, a `default`,
    or the short form `key: VALUE` (pulumi/pulumi sdk/go/common/workspace/project.go, RewriteShorthandConfigValues);
    none without a Pulumi.yaml."""
    if not (project_dir / "Pulumi.yaml").exists():
        return {}
    project = _mapping(project_dir / "Pulumi.yaml")
    config = project.get("config") or {}
    found: dict[str, Any] = {}
    for key, entry in config.items() if isinstance(config, dict) else ():
        value = entry.get("default", entry.get("value")) if isinstance(entry, dict) else entry
        if value is not None:
            found[key if ":" in key else f"{project.get('name')}:{key}"] = _plain(value)
    return found


def _holds_secret(value: Any) -> bool:
    """Whether a config value is encrypted, whole (`secure:`) or in part (`pulumi config set --secret --path`,
    a mapping or list holding a `secure:` entry): the CLI alone can read it."""
    if isinstance(value, dict):
        return "secure" in value or any(_holds_secret(item) for item in value.values())
    return isinstance(value, list) and any(_holds_secret(item) for item in value)


def _plain(value: Any) -> Any:
    """YAML reads an unquoted true as a boolean; Pulumi's config is text."""
    return ("true" if value else "false") if isinstance(value, bool) else value


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML as the CLI reads it (gopkg.in/yaml.v3, YAML 1.2): true and false are booleans; yes, no, on, off are text.
    Parsed by libyaml when PyYAML has it (its wheels do): the pure-Python parser costs 10 ms a stack file."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def _mapping(path: Path) -> dict[str, Any]:
    """A YAML file's top-level mapping ({} for an empty file)."""
    try:
        loaded = yaml.load(read_regular_file(path).decode(), _Loader)  # noqa: S506 - a SafeLoader
    except OSError as exc:
        raise ConfigurationError(f"Cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"{path} is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigurationError(f"{path} is not valid YAML{where}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigurationError(f"{path} must be a YAML mapping (with a `config:` key)")
    return loaded
