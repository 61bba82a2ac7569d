"""Whether a delete may give the tenant back its adopted value: bitlocker-policy:retainOnDelete as meant now.

Measured with Pulumi v3.274.1: a `pulumi destroy` that runs no program configures the
provider with the config recorded at the last `up`, whatever changed since (a value, a
secret, Pulumi.yaml, `--config-file`, a renamed stack; pulumi/pulumi pkg/engine/destroy.go
uses a null source, and providers are configured from their state). When the program runs
(`up`, `destroy --run-program`, PULUMI_RUN_PROGRAM=true), `configure` gets the config as it
is now. So a delete trusts `configure` only when a program ran. Otherwise it reads what the
user can have changed since: Pulumi.yaml, then the stack's file, or the `--config-file` the
command was given. Where it cannot see (the file is gone, the key is a secret, the file
imports ESC environments, the command line is hidden) it fails closed: no PATCH, and one
line saying how to make the setting take effect.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from providers.common.errors import ConfigurationError
from providers.config.invocation import PulumiCommand, cli_true
from providers.config.settings import RETAIN_ON_DELETE, Sources
from providers.config.stack_config import config_dir, project_values, read_stack_config

__all__ = ["retain_on_delete"]

_DESTROY = frozenset({"destroy", "down", "dn"})  # pulumi/pulumi pkg/cmd/pulumi/operations/destroy.go, Aliases
_KEY = RETAIN_ON_DELETE.key
_HOW = (
    "run `pulumi destroy --run-program` (or set PULUMI_RUN_PROGRAM=true), so the program reads the stack's "
    "config as it is now, or `pulumi up` first"
)


def retain_on_delete(stack: str | None, configured: Sources, command: PulumiCommand | None, project_dir: Path) -> bool:
    """True to leave the tenant as it is, False to restore; a ConfigurationError (nothing written) when unsure.

    `stack` is the stack's name at its last `up`, `configured` what `configure` received,
    `command` the pulumi command this process serves (None when it cannot be seen).
    """
    if _program_ran(command, configured.environ):
        return configured.flag(RETAIN_ON_DELETE)
    if command is None:
        raise ConfigurationError(
            f"bitlocker-policy cannot see how this `pulumi destroy` was run on this system, so a {_KEY} given with "
            "--config-file would go unseen; nothing was written. Set PULUMI_RUN_PROGRAM=true, so the program reads "
            "the stack's config as it is now"
        )
    given = command.value("--config-file")
    path = (command.cwd or project_dir) / given if given else config_dir(project_dir) / f"Pulumi.{stack}.yaml"
    if not given and stack is None:
        raise ConfigurationError(f"The state names no stack whose config file holds {_KEY}; nothing was written: {_HOW}")
    try:
        found = read_stack_config(path).over(project_values(project_dir))
    except ConfigurationError as error:
        raise ConfigurationError(
            f"{_KEY} cannot be checked for this destroy: {error} (a renamed stack, or config kept elsewhere?); "
            f"nothing was written: {_HOW}"
        ) from None
    if _KEY in found.secret_keys:
        raise ConfigurationError(
            f"{_KEY} is a secret in {path}, which a destroy that runs no program cannot read; nothing was written: "
            f"{_HOW}, or set it in plain text (`pulumi config set {_KEY} true`)"
        )
    if found.environments:
        raise ConfigurationError(
            f"{path} imports Pulumi ESC environments ({', '.join(found.environments)}), which may set {_KEY}; "
            f"nothing was written: {_HOW}"
        )
    return Sources(found.plain, {}).flag(RETAIN_ON_DELETE)


def _program_ran(command: PulumiCommand | None, environ: Mapping[str, str]) -> bool:
    """Whether the program ran for this command, so `configure` got the config as it is now."""
    if command is not None and command.subcommand not in _DESTROY:
        return True  # up, preview, refresh: every command but destroy runs the program
    switched = command.switched_on("--run-program") if command is not None else None
    if switched is not None:
        return switched
    return cli_true(environ.get("PULUMI_RUN_PROGRAM", ""))
