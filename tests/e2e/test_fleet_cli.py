"""The fleet's command line under the real CLI: what a run says before, during and after its stacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from emulator import Emulator, Tenant
from emulator.audit import AUDIT_ROLE
from emulator.state import WRITE_ROLE
from providers.config.settings import DESIRED_VALUE
from tests.support.emulated import emulator_config
from tests.support.engine import copy_project, engine_env, fleet
from tests.support.leaks import LeakCheck

pytestmark = pytest.mark.engine


def contoso(
    tenant: Tenant,
    roles: tuple[str, ...],
    pulumi_bin: str,
    pulumi_home: Path,
    tmp_path: Path,
    emulator: Emulator,
    leaks: LeakCheck,
) -> tuple[Path, dict[str, str]]:
    """A project with one stack, `contoso`, declaring false for `tenant` through a multi-tenant app with `roles`."""
    project = copy_project(tmp_path / "project")
    app = emulator.add_tenant().add_app()
    tenant.consent(app, roles)
    config = {**emulator_config(emulator, tenantId=tenant.id, clientId=app.client_id), DESIRED_VALUE.key: "false"}
    (project / "stacks" / "Pulumi.contoso.yaml").write_text(yaml.safe_dump({"config": config}))
    env = {**engine_env(pulumi_bin, pulumi_home, tmp_path / "backend", emulator), "ARM_CLIENT_SECRET": app.add_secret()}
    leaks.add_secret(env["PULUMI_CONFIG_PASSPHRASE"], "the stack's passphrase")
    leaks.roots += [project, tmp_path / "backend"]
    return project, env


def test_a_backend_nobody_logged_in_to_is_one_line_before_any_stack_runs(
    pulumi_bin: str, pulumi_home: Path, tmp_path: Path, emulator: Emulator, leaks: LeakCheck
) -> None:
    project = copy_project(tmp_path / "project")
    tenants = [emulator.add_tenant(), emulator.add_tenant()]
    for name, tenant in zip(("alpha", "bravo"), tenants, strict=True):
        config = {**emulator_config(emulator, tenantId=tenant.id), DESIRED_VALUE.key: "false"}
        (project / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}))
    env = engine_env(pulumi_bin, pulumi_home, tmp_path / "backend", emulator)
    del env["PULUMI_BACKEND_URL"]  # Pulumi Cloud, and no PULUMI_ACCESS_TOKEN: as a new CI job starts
    done = fleet(project, env, "preview")
    leaks.printed("python -m fleet preview", done.stdout + done.stderr)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    assert [line for line in done.stderr.splitlines() if line] == [
        "error: the Pulumi backend cannot be used (this command requires logging in; try running `pulumi login` "
        "first): log in with `pulumi login URL` (file://DIR, azblob://CONTAINER, s3://BUCKET) or set "
        "PULUMI_BACKEND_URL; for Pulumi Cloud, set PULUMI_ACCESS_TOKEN"
    ]
    assert [emulator.graph_requests(tenant=tenant) for tenant in tenants] == [[], []]


def test_a_new_stack_whose_tenant_already_agrees_is_recorded_without_a_patch(
    pulumi_bin: str, pulumi_home: Path, tmp_path: Path, emulator: Emulator, leaks: LeakCheck
) -> None:
    tenant = emulator.add_tenant(bitlocker=False)  # already blocked, as the stack will declare
    project, env = contoso(tenant, (WRITE_ROLE,), pulumi_bin, pulumi_home, tmp_path, emulator, leaks)

    for command, code, total in (
        ("preview", 0, "1 stack: 0 converged, 1 to record"),
        ("up", 0, "1 stack: 0 converged, 1 recorded"),
    ):
        done = fleet(project, env, command, "--json", "-")
        leaks.printed(f"python -m fleet {command}", done.stdout + done.stderr)
        assert done.returncode == code, done.stdout + done.stderr
        row = json.loads(done.stdout)["stacks"][0]
        assert (row["action"], row["live"], row["requestId"]) == ("record", False, None)
        assert total in done.stderr  # the table goes to stderr when the JSON takes stdout
        assert f"{command} 1/1: contoso record" in done.stderr  # a progress line: stderr is no terminal
    assert emulator.graph_requests("PATCH", tenant) == []


def test_who_changed_a_drifted_tenant_shows_in_preview_and_drift_and_a_converged_one_reads_no_audit_log(
    pulumi_bin: str, pulumi_home: Path, tmp_path: Path, emulator: Emulator, leaks: LeakCheck
) -> None:
    tenant = emulator.add_tenant(bitlocker=True)
    project, env = contoso(tenant, (WRITE_ROLE, AUDIT_ROLE), pulumi_bin, pulumi_home, tmp_path, emulator, leaks)

    def run(command: str, code: int) -> dict[str, object]:
        done = fleet(project, env, command, "--json", "-")
        leaks.printed(f"python -m fleet {command}", done.stdout + done.stderr)
        assert done.returncode == code, done.stdout + done.stderr
        row: dict[str, object] = json.loads(done.stdout)["stacks"][0]
        return row

    run("up", 0)
    assert run("drift", 0)["changed"] is None
    assert [r for r in emulator.graph_requests("GET", tenant) if r.path.lower().endswith("/directoryaudits")] == []
    emulator.set_bitlocker(tenant, True, by="grace@contoso.com")
    for command in ("drift", "preview"):
        row = run(command, 3)
        assert str(row["changed"]).startswith("changed by grace@contoso.com at 20"), row
    fixed = run("up", 0)["requestId"]  # converged again: our PATCH
    history = run("history", 0)["history"]
    assert isinstance(history, list)
    assert [(row["by"].split(" ")[0], row["to"], row["requestId"]) for row in history] == [
        ("bitlocker-policy", False, fixed),  # ours, with the request-id of the stack's last PATCH
        ("grace@contoso.com", True, None),
        ("bitlocker-policy", False, None),  # our first up: older than the stack's last PATCH
    ]


def test_what_a_killed_run_leaves_is_named_with_its_fix_and_lock_wait_waits_for_a_lock(
    pulumi_bin: str, pulumi_home: Path, tmp_path: Path, emulator: Emulator, leaks: LeakCheck
) -> None:
    tenant = emulator.add_tenant(bitlocker=True)
    project, env = contoso(tenant, (WRITE_ROLE,), pulumi_bin, pulumi_home, tmp_path, emulator, leaks)
    assert fleet(project, env, "preview").returncode == 3  # nothing in the backend yet: no lock to take
    # What a killed run leaves: the DIY backend's lock file (pulumi/pulumi pkg/backend/diy/lock.go).
    locks = tmp_path / "backend" / ".pulumi" / "locks" / "organization" / "bitlocker-policy" / "contoso"
    assert fleet(project, env, "up").returncode == 0
    emulator.set_bitlocker(tenant, True, by="grace@contoso.com")
    locks.mkdir(parents=True, exist_ok=True)
    lock = locks / "4a0e7bb0-4a4f-4b7e-9a47-d0c2d4a3f1e2.json"
    lock.write_text(json.dumps({"pid": 4242, "username": "runner", "hostname": "ci-7", "timestamp": "2026-12-07T10:00:00Z"}))

    done = fleet(project, env, "up", "--json", "-")
    leaks.printed("python -m fleet up (locked)", done.stdout + done.stderr)
    assert done.returncode == 4, done.stdout + done.stderr
    assert json.loads(done.stdout)["stacks"][0]["error"] == (
        "stack contoso is locked by another run (runner@ci-7, pid 4242, since 2026-12-07T10:00:00Z): let that run finish "
        "(or wait for it with --lock-wait SECONDS); if it was killed, release the lock with `pulumi cancel --stack contoso`"
    )
    assert emulator.graph_requests("PATCH", tenant) == [emulator.graph_requests("PATCH", tenant)[0]]  # the first up's only

    # --lock-wait: the run says it waits, and converges once the other run lets go of the stack.
    command = [sys.executable, "-m", "fleet", "up", "--lock-wait", "120", "--json", "-"]
    with subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as waiting:
        assert waiting.stderr is not None
        said = ""
        while not said.startswith("note:") and waiting.poll() is None:
            said = waiting.stderr.readline()
        assert said == (
            "note: stack contoso is locked by another run (runner@ci-7, pid 4242, since 2026-12-07T10:00:00Z): "
            "waiting up to 120 s\n"
        )
        lock.unlink()  # the other run ends
        out, err = waiting.communicate(timeout=300)
    leaks.printed("python -m fleet up --lock-wait", said + out + err)
    assert waiting.returncode == 0, said + out + err
    assert json.loads(out)["stacks"][0]["action"] == "update"
    assert tenant.bitlocker is False

    # A run killed as the CLI rewrote the stack's metadata file leaves it empty (fleet/diy_backend.py,
    # empty_sidecars); the CLI then says only `EOF`, the row which file to delete.
    sidecar = tmp_path / "backend" / ".pulumi" / "stacks" / "bitlocker-policy" / "contoso.json.attrs"
    sidecar.write_bytes(b"")
    done = fleet(project, env, "preview", "--json", "-")
    leaks.printed("python -m fleet preview (empty metadata file)", done.stdout + done.stderr)
    assert done.returncode == 4, done.stdout + done.stderr
    assert json.loads(done.stdout)["stacks"][0]["error"] == (
        "the CLI cannot read the backend past an empty metadata file, left by a process killed while writing it "
        f"(failed to load checkpoint: EOF): delete '{sidecar}' (a missing one reads as its defaults; no state is lost), "
        "then run again"
    )
    sidecar.unlink()
    assert fleet(project, env, "preview").returncode == 0
