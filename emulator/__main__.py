"""Run the emulator on its own until SIGTERM or Ctrl-C: the demo's one tenant and app, or a lab of N.

    python -m emulator --port 8943 --ca-file .demo/ca.pem \\
        --tenant-id GUID --client-id GUID --client-secret-env ARM_CLIENT_SECRET --allowed true
    python -m emulator --lab 6 --dir .lab      (emulator/lab.py; make lab)
    python -m emulator play [--dir .lab] set STACK true|false|null --as UPN
    python -m emulator play [--dir .lab] read-key STACK --as UPN
    python -m emulator play [--dir .lab] expire STACK DAYS
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from .lab import move_expiry, play, start_lab
from .server import Emulator
from .state import WRITE_ROLE


def play_main(argv: list[str]) -> None:
    """`play`: act on the running lab as a tenant's admin or user, or move an exception's expiry."""
    parser = argparse.ArgumentParser(prog="python -m emulator play", description="Play a lab tenant's people (make lab).")
    parser.add_argument("--dir", type=Path, default=Path(".lab"), help="the running lab's directory (default .lab)")
    actions = parser.add_subparsers(dest="action", required=True)
    changed = actions.add_parser("set", help="an admin changes the tenant's value in the portal")
    changed.add_argument("stack")
    changed.add_argument("value", choices=("true", "false", "null"))
    changed.add_argument("--as", dest="by", required=True, metavar="UPN", help="the admin the audit log names")
    reader = actions.add_parser("read-key", help="a user reads a device's BitLocker recovery key")
    reader.add_argument("stack")
    reader.add_argument("--as", dest="by", required=True, metavar="UPN", help="the user the audit log names")
    expiry = actions.add_parser("expire", help="move the stack's exception to expire DAYS from today (negative: expired)")
    expiry.add_argument("stack")
    expiry.add_argument("days", type=int)
    args = parser.parse_args(argv)
    directory = args.dir.resolve()
    try:
        if args.action == "expire":
            print(move_expiry(directory, args.stack, args.days))
        else:
            value = {"true": True, "false": False, "null": None}[args.value] if args.action == "set" else None
            print(play(directory, args.action, args.stack, args.by, value))
    except ValueError as error:
        parser.error(str(error))


def main() -> None:
    """Parse arguments, serve, stop on a signal (or `play`, see play_main)."""
    if sys.argv[1:2] == ["play"]:
        play_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(
        prog="python -m emulator", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
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
