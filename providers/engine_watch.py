"""A provider process ends when the Pulumi engine that started it is gone.

Pulumi's Python dynamic-provider host serves until it is interrupted and never looks at the
engine (pulumi/dynamic/__main__.py, `main`: `Event().wait()`), so a provider whose `pulumi`
CLI was killed lived on and could still send a PATCH half a minute later. The engine's
address is the host's one argument (`python -m pulumi.dynamic 127.0.0.1:PORT`). Upstream's
language hosts ask that address `grpc.health.v1.Health/Check`, counting Unimplemented as
alive (pulumi/pulumi sdk/go/common/util/rpcutil/health.go, `Healthcheck`); this watch asks
the same, once a second, and ends the process when the engine cannot be reached.
"""

from __future__ import annotations

import os
import sys
import threading
import time

import grpc

__all__ = ["watch_engine"]

CHECK_INTERVAL_SECONDS = 1.0
_HEALTH_CHECK = "/grpc.health.v1.Health/Check"
_ALIVE = (grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.DEADLINE_EXCEEDED)  # answering, or merely busy
_started = threading.Lock()


def watch_engine() -> None:
    """Start the watch, once per process, when this is a provider process the engine started."""
    address = _engine_address()
    if address is None or not _started.acquire(blocking=False):
        return
    threading.Thread(target=_watch, args=(address,), name="bitlocker-policy-engine-watch", daemon=True).start()


def _engine_address() -> str | None:
    """The engine's address when this process is `python -m pulumi.dynamic ADDRESS`, else None."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if getattr(spec, "name", None) != "pulumi.dynamic.__main__" or len(sys.argv) < 2:
        return None
    return sys.argv[1]


def _watch(address: str) -> None:
    channel = grpc.insecure_channel(address)
    check = channel.unary_unary(_HEALTH_CHECK, request_serializer=bytes, response_deserializer=bytes)
    while True:
        time.sleep(CHECK_INTERVAL_SECONDS)
        try:
            check(b"", timeout=10 * CHECK_INTERVAL_SECONDS)
        except grpc.RpcError as error:
            if error.code() not in _ALIVE:  # the CLI is gone: nothing would record what this process does next
                os._exit(1)
