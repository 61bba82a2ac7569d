"""What every benchmark sets up: the product's stack on a fresh emulator tenant; where its results go."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from emulator import Emulator
from emulator.project import Stack, copy_project, engine_env, init_stack, pulumi_bin

__all__ = ["product_stack", "save_results"]


def product_stack(work: Path, emulator: Emulator, name: str, *, allowed: bool) -> Stack:
    """A stack of a fresh project copy for a new tenant (client secret, emulator endpoints), not yet up."""
    tenant = emulator.add_tenant(bitlocker=allowed)
    app = tenant.add_app()
    env = engine_env(pulumi_bin(), work / "home", work / "backend", emulator)
    return init_stack(Stack(name, copy_project(work / name), env), emulator, tenant, app, app.add_secret())


Results = list[dict[str, object]]


def save_results(
    results: Results, plot_path: Path, key: tuple[str, ...], plot: Callable[[Results, Path], None], *, append: bool
) -> None:
    """Draw `results` at `plot_path` and write them beside it as JSON; with `append`, the earlier rows of
    that file whose `key` fields this run did not measure are kept."""
    store = plot_path.with_suffix(".json")
    if append and store.exists():
        measured = {tuple(row[field] for field in key) for row in results}
        earlier: Results = json.loads(store.read_text())
        results = [row for row in earlier if tuple(row[field] for field in key) not in measured] + results
    plot_path.parent.mkdir(parents=True, exist_ok=True)
    plot(results, plot_path)
    store.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nwrote {plot_path} and {store}", file=sys.stderr)
