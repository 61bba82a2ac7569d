"""Which stacks one fleet command runs: names, a shard of the fleet, and what a change touched.

A shard is a stable slice: a stack's shard depends on its name and the number of shards
alone (a hash, not a position), so adding or removing other stacks never moves it, and a CI
job per shard keeps running the same tenants. `--changed-since REF` keeps the stacks a pull
request touches: those whose file changed, or every stack when what runs them changed.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Sequence
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath

from fleet.stacks import StackFile
from providers.common.errors import ConfigurationError
from providers.common.outside_text import one_line
from providers.config.stack_config import config_dir

__all__ = ["Shard", "changed_stacks", "matching", "parse_shard", "shard_of"]

# What a preview of every stack runs: a change to any of these can change every tenant's result.
_RUNS_EVERY_STACK = ("__main__.py", "program.py", "Pulumi.yaml", "providers/", "fleet/", "requirements")

Shard = tuple[int, int]  # (index, count), 1-based: "2/4" is the second of four


def parse_shard(text: str) -> Shard:
    """`I/N` as (I, N), 1 ≤ I ≤ N; ValueError otherwise."""
    index, _, count = text.partition("/")
    shard = int(index), int(count)
    if not 1 <= shard[0] <= shard[1]:
        raise ValueError(text)
    return shard


def shard_of(stack: str, count: int) -> int:
    """The shard (1..count) a stack belongs to: a hash of its name, the same on every machine and run."""
    return int.from_bytes(hashlib.sha256(stack.encode()).digest()[:8], "big") % count + 1


def matching(stacks: Sequence[StackFile], globs: Sequence[str], shard: Shard | None) -> list[StackFile]:
    """The stacks whose names match any of `globs` and, given a shard, belong to it."""
    return [
        stack
        for stack in stacks
        if any(fnmatch(stack.name, glob) for glob in globs) and (shard is None or shard_of(stack.name, shard[1]) == shard[0])
    ]


def changed_stacks(project_dir: Path, ref: str, stacks: Sequence[StackFile]) -> list[StackFile]:
    """The stacks a change since `ref` touches (git's merge base with HEAD): their own file, or what runs them all."""
    try:
        done = subprocess.run(  # noqa: S603 - a fixed command line, no shell
            ["git", "diff", "--name-only", "--relative", f"{ref}...HEAD", "--"],  # noqa: S607 - git from PATH
            cwd=project_dir,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ConfigurationError(f"--changed-since needs git, which could not run: {error}") from None
    if done.returncode != 0:
        said = next((line for line in done.stderr.splitlines() if line.strip()), "no message")
        raise ConfigurationError(
            f"--changed-since {ref}: git cannot compare it with HEAD ({one_line(said)}); in CI, fetch the base branch "
            "first (actions/checkout with fetch-depth: 0, or `git fetch origin BRANCH`)"
        )
    changed = {PurePosixPath(line) for line in done.stdout.splitlines() if line}
    if any(str(path).startswith(_RUNS_EVERY_STACK) for path in changed):
        return list(stacks)
    stack_dir = PurePosixPath(config_dir(project_dir).relative_to(project_dir).as_posix())
    return [stack for stack in stacks if stack_dir / stack.path.name in changed]
