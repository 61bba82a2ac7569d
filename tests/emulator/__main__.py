"""Run the emulator on its own, for the demo: one tenant, one app, until SIGTERM or Ctrl-C.

    python -m tests.emulator --port 8943 --ca-file .demo/ca.pem \\
        --tenant-id GUID --client-id GUID --client-secret-env ARM_CLIENT_SECRET --allowed true
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from types import FrameType

from .server import Emulator
from .state import WRITE_ROLE


def main() -> None:
    """Parse arguments, serve, stop on a signal."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.emulator", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=8943)
    parser.add_argument("--ca-file", required=True, help="where to write the emulator's CA certificate (PEM)")
    parser.add_argument("--tenant-id", required=True)
    parser.add_argument("--domain", default="demo.onmicrosoft.com")
    parser.add_argument("--client-id", required=True)
    parser.add_argument(
        "--client-secret-env", default="ARM_CLIENT_SECRET", help="environment variable holding the app's client secret"
    )
    parser.add_argument(
        "--allowed",
        choices=("true", "false"),
        default="true",
        help="the tenant's initial allowedToReadBitlockerKeysForOwnedDevice",
    )
    args = parser.parse_args()

    emulator = Emulator(args.port, ca_path=args.ca_file)
    tenant = emulator.add_tenant(args.allowed == "true", args.domain, args.tenant_id)
    app = tenant.add_app((WRITE_ROLE,), client_id=args.client_id)
    app.secrets[os.environ[args.client_secret_env]] = False

    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    emulator.start()
    print(f"emulator ready at {emulator.url}", flush=True)
    stop.wait()
    emulator.stop()


if __name__ == "__main__":
    main()
