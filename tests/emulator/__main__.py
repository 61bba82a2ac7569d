"""Run the emulator on its own until SIGTERM or Ctrl-C: the demo's one tenant and app, or a lab of N.

    python -m tests.emulator --port 8943 --ca-file .demo/ca.pem \\
        --tenant-id GUID --client-id GUID --client-secret-env ARM_CLIENT_SECRET --allowed true
    python -m tests.emulator --lab 6 --dir .lab      (tests/emulator/lab.py; make lab)
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path
from types import FrameType

from .lab import start_lab
from .server import Emulator
from .state import WRITE_ROLE


def main() -> None:
    """Parse arguments, serve, stop on a signal."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.emulator", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=8943)
    parser.add_argument("--lab", type=int, metavar="N", help="a lab: N customer tenants and their stacks in --dir")
    parser.add_argument("--dir", type=Path, default=Path(".lab"), help="the lab's directory (default .lab)")
    parser.add_argument("--ca-file", help="where to write the emulator's CA certificate (PEM)")
    parser.add_argument("--tenant-id")
    parser.add_argument("--domain", default="demo.onmicrosoft.com")
    parser.add_argument("--client-id")
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
    if args.lab is not None:
        try:
            lab = start_lab(args.lab, args.dir.resolve(), args.port)
        except ValueError as error:
            parser.error(str(error))
        emulator = lab.emulator
        if lab.replaced:
            print(f"lab: replaced the stopped lab's files in {lab.directory}", flush=True)
        print(f"lab: {args.lab} tenants in {lab.directory}, the emulator at {emulator.url}. Try:\n{lab.commands()}", flush=True)
    else:
        if not (args.ca_file and args.tenant_id and args.client_id):
            parser.error("--ca-file, --tenant-id and --client-id are needed (or --lab N)")
        emulator = Emulator(args.port, ca_path=args.ca_file)
        tenant = emulator.add_tenant(args.allowed == "true", args.domain, args.tenant_id)
        app = tenant.add_app((WRITE_ROLE,), client_id=args.client_id)
        app.secrets[os.environ[args.client_secret_env]] = False
        emulator.start()

    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"emulator ready at {emulator.url}", flush=True)
    stop.wait()
    emulator.stop()


if __name__ == "__main__":
    main()
