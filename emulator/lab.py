"""A lab for the fleet: N customer tenants behind one multi-tenant app, their stacks, a local backend.

    python -m emulator --lab 6 --dir .lab        (make lab)
    python -m emulator play set customer-04-converged true --as it-admin@customer04.onmicrosoft.com
    python -m emulator play read-key customer-04-converged --as megan@customer04.onmicrosoft.com
    python -m emulator play expire customer-05-excepted -3

The tenants, as a service provider meets them: one drifted (an admin allowed self-service key
reading in the portal), one drifted too but consented only Policy.Read.All (the fleet reads it,
`up` names the permission to grant), one throttled (Graph answers 429 a few times, the retries
wait as Retry-After asks), one converged, from the fifth on one with an agreed exception
(self-service allowed, expiring in 20 days), and the rest converged. DIR holds the project's
files (linked to this repository; Pulumi.yaml copied, naming the lab's service provider, PROVIDER,
with a logo), one stack file per tenant, a file:// backend, the emulator's
CA and `lab.env` (the app's client secret among the variables: source it, it is not printed).
Run the fleet from the activated .venv, with `pulumi` on PATH for `up` (scripts/ensure-pulumi.sh
prints its directory).

`play` acts on the running lab as people in a tenant do: an admin changes the value in the portal
(the audit log names them), a user reads a device's recovery key (the audit log records "Read
BitLocker key"), and an exception's expiry moves (the stack file's `expires`, N days from today).
The first two reach the lab's process through its socket, DIR/lab.sock (one JSON line each way).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shlex
import shutil
import socket
import socketserver
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from .audit import AUDIT_ROLE
from .server import Emulator
from .state import WRITE_ROLE

__all__ = ["Lab", "move_expiry", "play", "start_lab"]

REPO = Path(__file__).resolve().parents[1]
LINKED = (
    "__main__.py",
    "program.py",
    "pyproject.toml",
    "requirements.txt",
    "providers",
    "fleet",
    "policy",
    ".venv",
)
LOCK = ".lab.lock"  # held by the running lab's process, with its pid inside
SOCKET = "lab.sock"  # where `play` reaches the running lab
KINDS = ("drifted", "read-only", "throttled", "converged", "excepted")  # the first tenants; the rest converged
ROLES = {"read-only": ("Policy.Read.All", AUDIT_ROLE)}  # the others: (WRITE_ROLE, AUDIT_ROLE)
# The service provider the customer pages name (fleet/writers/report.py Provider), set in the lab's Pulumi.yaml.
PROVIDER = {"providerName": "Lab Managed IT", "providerContact": "help@lab-managed-it.example", "providerLogo": "logo.svg"}
LOGO = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="48" height="48"><rect width="48" height="48" rx="8" fill="#0f766e"/>'
    '<text x="24" y="31" font-size="18" text-anchor="middle" fill="white">LAB</text></svg>'
)
EXCEPTION_DAYS = 20  # the excepted tenant's exception, from the lab's start: within the 30 days that warn


@dataclass
class Lab:
    """The running emulator, the lab's directory and the environment the fleet needs there."""

    emulator: Emulator
    directory: Path
    env: dict[str, str]
    replaced: bool  # a stopped lab's files were in the directory, and were replaced
    lock: int  # the descriptor holding LOCK while the lab runs
    control: socketserver.UnixStreamServer  # `play`'s way in

    def stop(self) -> None:
        """Stop the emulator and the control socket, and let go of the directory."""
        self.control.shutdown()
        self.control.server_close()
        self.emulator.stop()
        os.close(self.lock)

    def commands(self) -> str:
        """What to try, as a person types it."""
        project, env_file = shlex.quote(str(self.directory)), shlex.quote(str(self.directory / "lab.env"))
        play = f"python -m emulator play --dir {project}"
        return "\n".join(
            (
                f'. .venv/bin/activate && . {env_file} && PATH="$(scripts/ensure-pulumi.sh):$PATH"',
                f"python -m fleet drift --project {project}                       # who differs, and who changed it",
                f"python -m fleet up --only-drifted --project {project}           # converge just those",
                f"python -m fleet report --project {project} --out {project}/pages   # a page per customer",
                "# then play a tenant's people, and run drift, history or report again:",
                f"{play} set customer-04-converged true --as it-admin@customer04.onmicrosoft.com   # as an admin in the portal",
                f"{play} read-key customer-04-converged --as megan@customer04.onmicrosoft.com     # a user reads a key",
                f"{play} expire customer-05-excepted -3   # the exception expired 3 days ago",
            )
        )


def start_lab(count: int, directory: Path, port: int = 0) -> Lab:
    """Start the emulator with `count` (at least 4) customer tenants and write their stacks into `directory`."""
    if count < 4:
        raise ValueError("a lab has at least 4 tenants: drifted, read-only, throttled, converged (5 and more: one excepted)")
    lock, replaced = _take(directory)
    (directory / "stacks").mkdir(exist_ok=True)
    (directory / "state").mkdir(exist_ok=True)
    for name in LINKED:
        link = directory / name
        if not link.exists() and (REPO / name).exists():
            link.symlink_to(REPO / name)
    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    for key, value in PROVIDER.items():
        project["config"][key]["default"] = value
    (directory / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    (directory / PROVIDER["providerLogo"]).write_text(LOGO)
    emulator = Emulator(port, ca_path=directory / "ca.pem").start()
    app = emulator.add_tenant().add_app()
    secret = app.add_secret()
    kinds = [*KINDS, *["converged"] * count][:count]
    for index, kind in enumerate(kinds, start=1):
        name = f"customer-{index:02d}-{kind}"
        tenant = emulator.add_tenant(bitlocker=kind == "excepted", domain=f"customer{index:02d}.onmicrosoft.com")
        tenant.consent(app, ROLES.get(kind, (WRITE_ROLE, AUDIT_ROLE)))
        if kind in ("drifted", "read-only"):
            emulator.set_bitlocker(tenant, True, by=f"it-admin@customer{index:02d}.onmicrosoft.com")
        if kind == "throttled":
            emulator.faults.throttle(count=3, retry_after="1", tenant_id=tenant.id)
        config: dict[str, Any] = {
            "azuread:tenantId": tenant.id,
            "azuread:clientId": app.client_id,
            "bitlocker-policy:authorityHost": emulator.url,
            "bitlocker-policy:graphEndpoint": emulator.url,
            "bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice": "true" if kind == "excepted" else "false",
            "bitlocker-policy:customerName": f"Customer {index:02d} ({kind})",
        }
        if kind == "excepted":
            expires = (datetime.now(UTC) + timedelta(days=EXCEPTION_DAYS)).date().isoformat()
            exception = {"reason": "developers recover their test devices' keys", "approvedBy": "cio@customer05.example"}
            config["bitlocker-policy:exception"] = {**exception, "expires": expires}
        (directory / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    env = {
        "ARM_CLIENT_SECRET": secret,
        "SSL_CERT_FILE": str(directory / "ca.pem"),
        "PULUMI_BACKEND_URL": (directory / "state").as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(12),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    exports = "".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items())
    descriptor = os.open(directory / "lab.env", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the secret: owner only
    with os.fdopen(descriptor, "w") as env_file:
        env_file.write(exports)
    return Lab(emulator, directory, env, replaced, lock, _serve(emulator, directory / SOCKET))


def play(directory: Path, action: str, stack: str, by: str, value: bool | None = None) -> str:
    """As a person in `stack`'s tenant, on the lab running in `directory`: `set` the value (an admin in
    the portal) or `read-key` (a user reads a device's recovery key). What happened, in a line;
    ValueError (one line, naming the fix) when the lab or the stack is not there."""
    tenant_id = _stack_config(directory, stack)["azuread:tenantId"]
    request = {"action": action, "tenant": tenant_id, "by": by, "value": value}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        try:
            connection.connect(str(directory / SOCKET))
        except OSError:
            raise ValueError(f"no lab is running in {directory}: start one with make lab (or --dir the one that runs)") from None
        connection.sendall(json.dumps(request).encode() + b"\n")
        answer = json.loads(connection.makefile().readline())
    return f"{stack}: {answer['done']}"


def move_expiry(directory: Path, stack: str, days: int) -> str:
    """Move `stack`'s exception to expire `days` from today (negative: already expired), in its stack file."""
    path = directory / "stacks" / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text()) if path.exists() else None
    exception = (document or {}).get("config", {}).get("bitlocker-policy:exception") if isinstance(document, dict) else None
    if not isinstance(exception, dict):
        raise ValueError(f"{stack} has no exception in {path}: name the lab's excepted stack (customer-05-excepted)")
    exception["expires"] = (datetime.now(UTC) + timedelta(days=days)).date().isoformat()
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return f"{stack}: its exception now expires on {exception['expires']} ({days:+d} days from today)"


def _stack_config(directory: Path, stack: str) -> dict[str, Any]:
    path = directory / "stacks" / f"Pulumi.{stack}.yaml"
    if not path.exists():
        names = sorted(
            found.name.removeprefix("Pulumi.").removesuffix(".yaml") for found in (directory / "stacks").glob("Pulumi.*.yaml")
        )
        raise ValueError(f"no stack {stack} in {directory}: name one of {', '.join(names) or 'none (is it a lab?)'}")
    config: dict[str, Any] = yaml.safe_load(path.read_text())["config"]
    return config


def _serve(emulator: Emulator, path: Path) -> socketserver.UnixStreamServer:
    """The control socket: one JSON request a connection, {"done": what happened} back, on a thread of its own."""

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            request = json.loads(self.rfile.readline())
            tenant = emulator.directory.tenant(request["tenant"])
            assert tenant is not None, request  # play read it from the lab's own stack file
            if request["action"] == "set":
                emulator.set_bitlocker(tenant, request["value"], by=request["by"])
                value = "null" if request["value"] is None else str(request["value"]).lower()
                done = f"{request['by']} set allowedToReadBitlockerKeysForOwnedDevice to {value} (the audit log names them)"
            else:
                key_id = emulator.read_key(tenant, request["by"])
                done = f"{request['by']} read the recovery key {key_id} of LAPTOP-01 (the audit log records Read BitLocker key)"
            self.wfile.write(json.dumps({"done": done}).encode() + b"\n")

    server = socketserver.ThreadingUnixStreamServer(str(path), Handler)
    # Polled every 50 ms, so that Lab.stop returns at once, not after the standard library's 0.5 s.
    threading.Thread(target=server.serve_forever, args=(0.05,), name="lab-control", daemon=True).start()
    return server


def _take(directory: Path) -> tuple[int, bool]:
    """Hold the directory's lock and empty it of a stopped lab's files; ValueError when a lab runs there.

    The lock is flock(2)'s, so it goes with the process that held it, however that process ended.
    """
    directory.mkdir(parents=True, exist_ok=True)
    lock = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(lock, 20).decode(errors="replace").strip() or "unknown"
        os.close(lock)
        raise ValueError(
            f"a lab is running in {directory} (pid {holder}); it is left as it is: stop it first "
            f"(Ctrl-C where it runs, or kill {holder}), or give another --dir"
        ) from None
    stale = [entry for entry in directory.iterdir() if entry.name != LOCK]
    if stale and not (directory / "lab.env").exists():  # someone's directory, not a stopped lab: never emptied
        os.close(lock)
        (directory / LOCK).unlink()
        raise ValueError(f"{directory} holds files and no lab (no lab.env): give --dir an empty or a lab's directory")
    for entry in stale:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    os.ftruncate(lock, 0)
    os.write(lock, f"{os.getpid()}\n".encode())
    return lock, bool(stale)
