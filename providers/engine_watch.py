"""A provider process ends when the Pulumi engine that started it is gone.

Pulumi's Python dynamic-provider host serves until it is interrupted and never looks at the
engine (pulumi/dynamic/__main__.py, `main`: `Event().wait()`), so a provider whose `pulumi`
CLI was killed lived on and could still send a PATCH half a minute later. The engine's
address is the host's one argument (`python -m pulumi.dynamic 127.0.0.1:PORT`). Upstream's
language hosts ask that address `grpc.health.v1.Health/Check`, counting Unimplemented as
alive (pulumi/pulumi sdk/go/common/util/rpcutil/health.go, `Healthcheck`); this watch asks
the same, once a second, and ends the process when the engine cannot be reached.

The host imports our code only when the first CRUD call unpickles the provider
(pulumi/dynamic/__main__.py, `get_provider`), so a host the engine started but never called
never runs `configure`. The fleet therefore starts the watch at interpreter start-up too: it
puts STARTUP_DIRECTORY, whose `sitecustomize` calls `watch_engine`, on the CLI's PYTHONPATH,
which reaches every plugin the CLI starts (pulumi/pulumi sdk/go/common/resource/plugin/
provider_plugin.go, `NewProvider`: the plugin's environment is the CLI's plus PULUMI_RUNTIME_*).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

__all__ = ["STARTUP_DIRECTORY", "engine_address", "python_path", "watch_engine"]

CHECK_INTERVAL_SECONDS = 1.0
STARTUP_DIRECTORY = Path(__file__).resolve().with_name("startup")
WATCH_THREAD = "bitlocker-policy-engine-watch"
_HEALTH_CHECK = "/grpc.health.v1.Health/Check"
_starting = threading.Lock()


def watch_engine() -> None:
    """Start the watch, once per process, when this is a provider process the engine started."""
    address = engine_address(sys.orig_argv)
    with _starting:
        # By thread name: start-up's sitecustomize loads this file as a module of its own.
        if address is None or any(thread.name == WATCH_THREAD for thread in threading.enumerate()):
            return
        threading.Thread(target=_watch, args=(address,), name=WATCH_THREAD, daemon=True).start()


def engine_address(argv: list[str]) -> str | None:
    """The engine's address when `argv` (the interpreter's own) is `python ... -m pulumi.dynamic ADDRESS`, else None.

    The plugin shim runs `python -u -m pulumi.dynamic $@` (pulumi/pulumi
    sdk/python/dist/pulumi-resource-pulumi-python).
    """
    at = argv.index("-m") if "-m" in argv else len(argv)
    if argv[at + 1 : at + 2] != ["pulumi.dynamic"] or len(argv) < at + 3:
        return None
    return argv[at + 2]


def python_path(current: str | None) -> str:
    """The PYTHONPATH for a CLI whose dynamic-provider hosts watch their engine from start-up: `current` after ours."""
    return os.pathsep.join([str(STARTUP_DIRECTORY), *([current] if current else [])])


def _watch(address: str) -> None:
    import grpc  # here, not at import: start-up loads this module in every Python process the CLI starts

    alive = (grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.DEADLINE_EXCEEDED)  # answering, or merely busy
    channel = grpc.insecure_channel(address)
    check = channel.unary_unary(_HEALTH_CHECK, request_serializer=bytes, response_deserializer=bytes)
    while True:
        time.sleep(CHECK_INTERVAL_SECONDS)
        try:
            check(b"", timeout=10 * CHECK_INTERVAL_SECONDS)
        except grpc.RpcError as error:
            if error.code() not in alive:  # the CLI is gone: nothing would record what this process does next
                os._exit(1)
