"""What every benchmark sets up: the product's stack on a fresh emulator tenant."""

from __future__ import annotations

from pathlib import Path

from emulator import Emulator
from emulator.project import Stack, copy_project, engine_env, init_stack, pulumi_bin

__all__ = ["product_stack"]


def product_stack(work: Path, emulator: Emulator, name: str, *, allowed: bool) -> Stack:
    """A stack of a fresh project copy for a new tenant (client secret, emulator endpoints), not yet up."""
    tenant = emulator.add_tenant(bitlocker=allowed)
    app = tenant.add_app()
    env = engine_env(pulumi_bin(), work / "home", work / "backend", emulator)
    return init_stack(Stack(name, copy_project(work / name), env), emulator, tenant, app, app.add_secret())
