"""What every benchmark sets up: the Pulumi CLI, and the product's stack on a fresh emulator tenant."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.emulator import Emulator
from tests.support.engine import REPO, Stack, copy_project, engine_env, init_stack

__all__ = ["product_stack", "pulumi_bin"]


def pulumi_bin() -> str:
    """The directory holding `pulumi` (built once by scripts/ensure-pulumi.sh when not on PATH)."""
    return subprocess.run(
        [str(REPO / "scripts" / "ensure-pulumi.sh")], capture_output=True, text=True, check=True
    ).stdout.split()[-1]


def product_stack(work: Path, emulator: Emulator, name: str, *, allowed: bool) -> Stack:
    """A stack of a fresh project copy for a new tenant (client secret, emulator endpoints), not yet up."""
    bin_dir = pulumi_bin()
    tenant = emulator.add_tenant(bitlocker=allowed)
    app = tenant.add_app()
    env = engine_env(bin_dir, work / "home", work / "backend", emulator)
    return init_stack(Stack(name, copy_project(work / name), env), emulator, tenant, app, app.add_secret())
