"""The `pulumi` command a provider process serves, as the user ran it.

Pulumi tells a dynamic provider neither the command, nor the stack's current name, nor the
config file it was given: its environment adds only PULUMI_PROJECT, PULUMI_CONFIG (the
`pulumi-python:` namespace), PULUMI_RUNTIME_VIRTUALENV and a log endpoint (measured with
Pulumi v3.274.1; pulumi/pulumi pkg/resource/plugin/provider_plugin.go). The provider runs
under the CLI (`pulumi` → the pulumi-resource-pulumi-python shell shim → python), so the
command is read from the nearest ancestor that is the CLI: from /proc on Linux, from `ps`
on other POSIX systems. Elsewhere (Windows) it cannot be seen.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PulumiCommand", "cli_true", "pulumi_command"]

# The CLI's global flags that take a value (pulumi/pulumi pkg/cmd/pulumi/pulumi.go, persistent flags).
_GLOBAL_FLAGS_WITH_VALUE = frozenset(
    {"--cwd", "-C", "--color", "--profiling", "--tracing", "--tracing-header", "--memprofilerate"}
)
_ANCESTORS = 4  # python ← shim ← pulumi; a little room for a wrapper


@dataclass(frozen=True)
class PulumiCommand:
    """A `pulumi` command line, and the directory it ran in (when known)."""

    argv: tuple[str, ...]
    cwd: Path | None = None

    @property
    def subcommand(self) -> str | None:
        """`up`, `destroy`, …: the first argument that is neither a flag nor a global flag's value."""
        args = iter(self.argv[1:])
        for arg in args:
            if arg in _GLOBAL_FLAGS_WITH_VALUE:
                next(args, None)
            elif not arg.startswith("-"):
                return arg
        return None

    def value(self, flag: str) -> str | None:
        """The value of `FLAG VALUE` or `FLAG=VALUE`, or None."""
        for index, arg in enumerate(self.argv):
            if arg.startswith(f"{flag}="):
                return arg.split("=", 1)[1]
            if arg == flag and index + 1 < len(self.argv):
                return self.argv[index + 1]
        return None

    def switched_on(self, flag: str) -> bool | None:
        """A boolean flag: True for `FLAG` or `FLAG=true`, False for `FLAG=false`, None when absent."""
        for arg in self.argv:
            if arg == flag:
                return True
            if arg.startswith(f"{flag}="):
                return cli_true(arg.split("=", 1)[1])
        return None


def cli_true(text: str) -> bool:
    """Whether the CLI takes its own switch (PULUMI_RUN_PROGRAM, --run-program=…) as on: 1, or true in any case
    (pulumi/pulumi sdk/go/common/util/env/env.go, BoolValue). Not a config key: these are the CLI's spellings,
    not bitlocker-policy's (providers/config/settings.py, parse_bool)."""
    return text == "1" or text.lower() == "true"


def pulumi_command() -> PulumiCommand | None:
    """The command of the nearest ancestor process that is the pulumi CLI; None when it cannot be seen."""
    pid = os.getppid()
    for _ in range(_ANCESTORS):
        found = _process(pid)
        if found is None:
            return None
        argv, cwd, parent = found
        if argv and Path(argv[0]).name in ("pulumi", "pulumi.exe"):
            return PulumiCommand(tuple(argv), cwd)
        pid = parent
    return None


def _process(pid: int) -> tuple[list[str], Path | None, int] | None:
    """A process's command line, working directory and parent, or None."""
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():
        try:
            argv = proc.joinpath("cmdline").read_bytes().split(b"\0")
            stat = proc.joinpath("stat").read_text()
            cwd = Path(os.readlink(proc / "cwd"))
        except OSError:
            return None
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        return [arg.decode(errors="replace") for arg in argv if arg], cwd, parent
    if os.name != "posix":
        return None
    try:  # macOS and the BSDs have no /proc; their `ps` splits arguments on spaces, which flags never hold
        shown = subprocess.run(  # noqa: S603 - a fixed command line, no shell
            ["ps", "-o", "ppid=", "-o", "args=", "-p", str(pid)],  # noqa: S607 - the system's ps, found on PATH
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.split(None, 1)
    except (OSError, subprocess.SubprocessError):
        return None
    return (shown[1].split(), None, int(shown[0])) if len(shown) == 2 else None
