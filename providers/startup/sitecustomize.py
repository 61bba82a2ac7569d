"""What Python runs at start-up in each process a fleet run's CLI starts (the fleet puts this directory on its PYTHONPATH).

In a dynamic-provider host it starts the engine watch before the SDK's host runs
(providers/engine_watch.py says why `configure` is too late). It loads that one file, not the
`providers` package: which provider code a host runs stays the host's business. Then the
`sitecustomize` that this one shadows on sys.path, if there is one, runs as it would have
(Python imports one module of that name: https://docs.python.org/3/library/site.html).
"""

from __future__ import annotations

import sys
from importlib.machinery import ModuleSpec, PathFinder
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent


def _execute(spec: ModuleSpec | None) -> ModuleType | None:
    """The module `spec` found, executed (not entered in sys.modules); None when none was found."""
    if spec is None or spec.loader is None:
        return None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


engine_watch = _execute(spec_from_file_location("bitlocker_policy_engine_watch", HERE.parent / "engine_watch.py"))
if engine_watch is not None:
    engine_watch.watch_engine()
_execute(PathFinder.find_spec("sitecustomize", [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]))
