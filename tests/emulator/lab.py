"""A lab for the fleet: N customer tenants behind one multi-tenant app, their stacks, a local backend.

    python -m tests.emulator --lab 6 --dir .lab        (make lab)

The tenants, as a service provider meets them: one drifted (an admin allowed self-service key
reading in the portal), one drifted too but consented only Policy.Read.All (the fleet reads it,
`up` names the permission to grant), one throttled (Graph answers 429 a few times, the retries
wait as Retry-After asks), and the rest converged. DIR holds the project's files (linked to this
repository), one stack file per tenant, a file:// backend, the emulator's CA and `lab.env` (the
app's client secret among the variables: source it, it is not printed). Run the fleet from the
activated .venv, with `pulumi` on PATH for `up` (scripts/ensure-pulumi.sh prints its directory).
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from .audit import AUDIT_ROLE
from .server import Emulator
from .state import WRITE_ROLE

__all__ = ["Lab", "start_lab"]

REPO = Path(__file__).resolve().parents[2]
LINKED = (
    "Pulumi.yaml",
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
ROLES = {"drifted": (WRITE_ROLE, AUDIT_ROLE), "read-only": ("Policy.Read.All", AUDIT_ROLE), "throttled": (WRITE_ROLE, AUDIT_ROLE)}


@dataclass
class Lab:
    """The running emulator, the lab's directory and the environment the fleet needs there."""

    emulator: Emulator
    directory: Path
    env: dict[str, str]
    replaced: bool  # a stopped lab's files were in the directory, and were replaced
    lock: int  # the descriptor holding LOCK while the lab runs

    def stop(self) -> None:
        """Stop the emulator and let go of the directory."""
        self.emulator.stop()
        os.close(self.lock)

    def commands(self) -> str:
        """What to try, as a person types it."""
        project, env_file = shlex.quote(str(self.directory)), shlex.quote(str(self.directory / "lab.env"))
        return "\n".join(
            (
                f'. .venv/bin/activate && . {env_file} && PATH="$(scripts/ensure-pulumi.sh):$PATH"',
                f"python -m fleet drift --project {project}                       # who differs, and who changed it",
                f"python -m fleet up --only-drifted --project {project}           # converge just those",
                f"python -m fleet report --project {project} --out {project}/pages   # a page per customer",
            )
        )


def start_lab(count: int, directory: Path, port: int = 0) -> Lab:
    """Start the emulator with `count` (at least 4) customer tenants and write their stacks into `directory`."""
    if count < 4:
        raise ValueError("a lab has at least 4 tenants: drifted, read-only, throttled, converged")
    lock, replaced = _take(directory)
    (directory / "stacks").mkdir(exist_ok=True)
    (directory / "state").mkdir(exist_ok=True)
    for name in LINKED:
        link = directory / name
        if not link.exists() and (REPO / name).exists():
            link.symlink_to(REPO / name)
    emulator = Emulator(port, ca_path=directory / "ca.pem").start()
    app = emulator.add_tenant().add_app()
    secret = app.add_secret()
    kinds = ["drifted", "read-only", "throttled", *["converged"] * (count - 3)]
    for index, kind in enumerate(kinds, start=1):
        name = f"customer-{index:02d}-{kind}"
        tenant = emulator.add_tenant(bitlocker=False, domain=f"customer{index:02d}.onmicrosoft.com")
        tenant.consent(app, ROLES.get(kind, (WRITE_ROLE, AUDIT_ROLE)))
        if kind in ("drifted", "read-only"):
            emulator.set_bitlocker(tenant, True, by=f"it-admin@customer{index:02d}.onmicrosoft.com")
        if kind == "throttled":
            emulator.faults.throttle(count=3, retry_after="1", tenant_id=tenant.id)
        config = {
            "azuread:tenantId": tenant.id,
            "azuread:clientId": app.client_id,
            "bitlocker-policy:authorityHost": emulator.url,
            "bitlocker-policy:graphEndpoint": emulator.url,
            "bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice": "false",
            "bitlocker-policy:customerName": f"Customer {index:02d} ({kind})",
        }
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
    return Lab(emulator, directory, env, replaced, lock)


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
