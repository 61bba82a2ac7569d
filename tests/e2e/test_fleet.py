"""The fleet under the real CLI: several customer tenants, one multi-tenant app, state in Azure Blob Storage.

The stacks live where an Azure shop's pipelines keep them: Pulumi's `azblob://` backend, here
against Azurite (Microsoft's Azure Storage emulator), so locking, concurrent stacks and
secrets go through a real remote backend. The tenants are the emulator's: one converged,
one drifted in the portal, one whose admin consented only Policy.Read.All, one throttled.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from azure.storage.blob import BlobServiceClient

from emulator import App, Emulator, Tenant
from providers.config.settings import DESIRED_VALUE
from tests.support.emulated import assertion_subjects, emulator_config
from tests.support.engine import copy_project, engine_env
from tests.support.leaks import LeakCheck
from tests.support.processes import stop
from tests.support.tools import ensure_tool

# Azurite's one account and its published key (github.com/Azure/Azurite, README "Default
# Storage Account"; learn.microsoft.com/azure/storage/common/storage-use-azurite).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
READ_ONLY = ("Policy.Read.All",)

# The tests on Azurite's backend share its one process (a module fixture), so they run on one
# worker together (xdist_group "azurite"); the others run anywhere.
pytestmark = pytest.mark.engine


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Azurite:
    """Azurite's blob service, and the directory where it keeps the blobs."""

    service: BlobServiceClient
    location: Path


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """Azurite's blob service, for the module's tests (each keeps its state in a container of its own)."""
    blob = ensure_tool("azurite") / "azurite-blob"
    port = free_port()
    location = tmp_path_factory.mktemp("azurite")
    log = location / "azurite.log"
    endpoint = f"http://127.0.0.1:{port}/{ACCOUNT}"
    connection = f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};BlobEndpoint={endpoint};"
    with log.open("w") as errors:
        server = subprocess.Popen(
            [
                blob,
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(port),
                "--location",
                str(location),
                "--silent",
                "--skipApiVersionCheck",
            ],
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                service = BlobServiceClient.from_connection_string(connection)
                service.get_account_information()
                break
            except Exception:
                if server.poll() is not None or time.monotonic() > deadline:
                    stop(server)
                    pytest.fail(f"Azurite did not start: {log.read_text()}", pytrace=False)
                time.sleep(0.2)
        yield Azurite(service, location)
        stop(server)


@dataclass
class Fleet:
    """A project with one stack file per customer tenant, run with `python -m fleet`."""

    project: Path
    env: dict[str, str]
    emulator: Emulator
    app: App
    tenants: dict[str, Tenant]
    container: str  # the blob container holding the stacks' state
    leaks: LeakCheck

    def add_stack(self, name: str, tenant: str) -> None:
        """stacks/Pulumi.NAME.yaml for `tenant`: the shared app, blocking self-service (false)."""
        config = {
            **emulator_config(self.emulator, tenantId=tenant, clientId=self.app.client_id),
            "bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice": "false",
            "bitlocker-policy:consistencyWindowSeconds": "0",
        }
        lines = "".join(f'  {key}: "{value}"\n' for key, value in config.items())
        (self.project / "stacks" / f"Pulumi.{name}.yaml").write_text(f"config:\n{lines}")

    def run(self, *args: str, expect: int) -> tuple[str, dict[str, object]]:
        """`python -m fleet ARGS --json`: its table and its JSON; fails the test on another exit code."""
        report = self.project / "fleet.json"
        report.unlink(missing_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "fleet", *args, "--json", str(report)],
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        self.leaks.printed(f"python -m fleet {args[0]}", done.stdout + done.stderr)
        if done.returncode != expect:
            pytest.fail(f"fleet {' '.join(args)} exited {done.returncode}, expected {expect}:\n{done.stdout}\n{done.stderr}")
        return done.stdout, json.loads(report.read_text()) if report.exists() else {}

    def patches(self) -> int:
        """PATCH requests the emulator received so far, any tenant."""
        return len(self.emulator.graph_requests("PATCH"))


def rows(document: dict[str, object]) -> dict[str, dict[str, object]]:
    """The JSON's rows by stack."""
    stacks = document["stacks"]
    assert isinstance(stacks, list)
    return {row["stack"]: row for row in stacks}


@pytest.fixture
def fleet(pulumi_bin: str, pulumi_home: Path, tmp_path: Path, emulator: Emulator, azurite: Azurite, leaks: LeakCheck) -> Fleet:
    """Four customer tenants that consented to one multi-tenant app (one only for reading)."""
    project = copy_project(tmp_path / "project")
    home = emulator.add_tenant()
    app = home.add_app()
    secret = app.add_secret()
    container = azurite.service.create_container(f"state-{uuid.uuid4().hex[:12]}").container_name
    location = f"{container}?localemu=true&domain={urlsplit(azurite.service.url).netloc}&protocol=http"
    env = {
        **engine_env(pulumi_bin, pulumi_home, tmp_path / "file-backend", emulator),
        "PULUMI_BACKEND_URL": f"azblob://{location}",
        "AZURE_STORAGE_ACCOUNT": ACCOUNT,
        "AZURE_STORAGE_KEY": ACCOUNT_KEY,
        "ARM_CLIENT_SECRET": secret,  # one secret for every tenant: the app's, from the pipeline's secret store
    }
    tenants = {}
    for name in ("alpha", "bravo", "charlie", "delta"):
        tenants[name] = emulator.add_tenant(bitlocker=True)
        tenants[name].consent(app, READ_ONLY if name == "charlie" else ("Policy.ReadWrite.Authorization",))
    leaks.add_secret(env["PULUMI_CONFIG_PASSPHRASE"], "the stacks' passphrase")
    leaks.roots += [project, azurite.location, tmp_path / "file-backend"]
    result = Fleet(project, env, emulator, app, tenants, container, leaks)
    for name, tenant in tenants.items():
        result.add_stack(name, tenant.domain if name == "alpha" else tenant.id)
    return result


@pytest.mark.azurite
@pytest.mark.xdist_group("azurite")
def test_the_fleet_converges_reports_drift_and_keeps_going_past_failures(fleet: Fleet, azurite: Azurite) -> None:
    alpha, bravo, charlie, delta = (fleet.tenants[name] for name in ("alpha", "bravo", "charlie", "delta"))

    # First up: three tenants blocked, the read-only one fails alone with the permission to grant.
    table, first = fleet.run("up", "--workers", "4", expect=4)
    up = rows(first)
    assert {name: row["action"] for name, row in up.items()} == {
        "alpha": "update",
        "bravo": "update",
        "charlie": "failed",
        "delta": "update",
    }
    assert "Policy.ReadWrite.Authorization" in str(up["charlie"]["error"])
    assert "request-id" in str(up["charlie"]["error"])
    assert [t.bitlocker for t in (alpha, bravo, charlie, delta)] == [False, False, True, False]
    written = {r.request_id for r in fleet.emulator.graph_requests("PATCH") if r.status == 204}
    assert {up[name]["requestId"] for name in ("alpha", "bravo", "delta")} == written
    assert up["alpha"]["tenant"] == alpha.id  # declared by domain, reported by GUID
    assert "Policy.ReadWrite.Authorization" in table

    # The state is in the blob container, one checkpoint per stack.
    names = {blob.name for blob in azurite.service.get_container_client(fleet.container).list_blobs()}
    assert {f".pulumi/stacks/bitlocker-policy/{name}.json" for name in ("alpha", "bravo", "delta")} <= names

    # Drift: read-only, concurrent; bravo drifted in the portal, delta is throttled past its retries.
    fleet.emulator.set_bitlocker(bravo, True)
    fleet.emulator.faults.throttle(count=100, retry_after="0", tenant_id=delta.id)
    before = fleet.patches()
    table, drift = fleet.run("drift", expect=4)
    assert fleet.patches() == before
    found = rows(drift)
    assert (found["alpha"]["action"], found["alpha"]["live"]) == ("none", False)
    assert (found["bravo"]["action"], found["bravo"]["live"]) == ("update", True)
    assert str(found["bravo"]["reason"]).startswith("drift: changed outside Pulumi")
    assert found["charlie"]["action"] == "update"  # its first up failed: never deployed
    assert found["delta"]["action"] == "failed"
    assert "throttling" in str(found["delta"]["error"])
    assert "request-id" in str(found["delta"]["error"])
    assert drift["exitCode"] == 4
    fleet.emulator.faults.clear()

    # Preview names the drift and changes nothing; exit 3 means changes and no failure.
    _, preview = fleet.run("preview", expect=3)
    assert fleet.patches() == before
    assert {name: (row["action"], row["reason"]) for name, row in rows(preview).items()} == {
        "alpha": ("none", ""),
        "bravo": ("update", "drift: changed outside Pulumi (the stack's last up left it false)"),
        "charlie": ("update", "never deployed"),
        "delta": ("none", ""),
    }

    # up --only-drifted converges bravo alone (and tries charlie, which still cannot be written).
    engine_runs = len(fleet.emulator.graph_requests("GET", tenant=alpha))
    _, fixed = fleet.run("up", "--only-drifted", expect=4)
    converged = rows(fixed)
    assert converged["bravo"]["action"] == "update"
    assert bravo.bitlocker is False
    assert converged["bravo"]["requestId"] == fleet.emulator.graph_requests("PATCH", tenant=bravo)[-1].request_id
    assert converged["alpha"]["action"] == "none"
    assert len(fleet.emulator.graph_requests("GET", tenant=alpha)) == engine_runs + 1  # drift's read, no engine run
    assert converged["charlie"]["action"] == "failed"

    # refresh records a portal change in state and never writes the tenant.
    fleet.emulator.set_bitlocker(bravo, True)
    before = fleet.patches()
    _, refreshed = fleet.run("refresh", "--stacks", "bravo", expect=3)  # found a tenant that differs
    assert (rows(refreshed)["bravo"]["action"], rows(refreshed)["bravo"]["live"]) == ("update", True)
    assert fleet.patches() == before
    fleet.emulator.set_bitlocker(bravo, False)
    # charlie's up failed: nothing of it in state to refresh, and no live value claimed.
    _, nothing = fleet.run("refresh", "--stacks", "charlie", expect=0)
    assert (rows(nothing)["charlie"]["liveRead"], rows(nothing)["charlie"]["reason"]) == (
        False,
        "not in the stack's state: nothing to refresh until `up` records it",
    )

    # A page per customer and the provider's index.
    fleet.run("report", "--out", "report", expect=3)
    index = (fleet.project / "report" / "index.html").read_text()
    assert index.count("<tr") == 5  # the header and four tenants
    assert "never deployed" in index
    assert "as agreed" in (fleet.project / "report" / "alpha.html").read_text()
    assert f"People in {alpha.domain} cannot read" in (fleet.project / "report" / "alpha.html").read_text()


@pytest.mark.azurite
@pytest.mark.xdist_group("azurite")
def test_a_stack_whose_declared_value_is_not_a_boolean_fails_alone_naming_the_key(fleet: Fleet) -> None:
    fleet.add_stack("echo", fleet.emulator.add_tenant().id)
    stack_file = fleet.project / "stacks" / "Pulumi.echo.yaml"
    stack_file.write_text(stack_file.read_text().replace('Device: "false"', 'Device: "maybe"'))
    _, up = fleet.run("up", "--stacks", "[ae]*", expect=4)
    found = rows(up)
    assert found["alpha"]["action"] == "update"
    assert found["echo"]["action"] == "failed"
    assert (
        found["echo"]["error"] == "bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice must be true or false, got 'maybe'"
    )
    # echo never reached the engine: alpha's is the only PATCH.
    assert fleet.patches() == 1


def test_one_federated_credential_on_one_multi_tenant_app_converges_every_tenant(
    pulumi_bin: str, pulumi_home: Path, tmp_path: Path, emulator: Emulator, leaks: LeakCheck
) -> None:
    """One GitHub Actions job, one federated credential on one multi-tenant app, three customer tenants.

    The credential lives on the application object in its home tenant; each token request goes to
    a customer tenant where the app was consented ("your app registration must be a multitenant
    application and provisioned into the other tenant", learn.microsoft.com/entra/workload-id/
    workload-identity-federation-config-app-trust-managed-identity; "This works both in single
    and multitenant setups", devblogs.microsoft.com/identity/access-cloud-resources-across-tenants-without-secrets-ga).
    """
    project = copy_project(tmp_path / "project")
    app = emulator.add_tenant().add_app(roles=())  # registered in the provider's own tenant
    subject = "repo:contoso@1234/tenants@5678:environment:tenants-write"
    app.federated_subjects.add(subject)
    customers = {name: emulator.add_tenant(bitlocker=True) for name in ("alpha", "bravo", "charlie")}
    for name, tenant in customers.items():
        tenant.consent(app)
        config = {**emulator_config(emulator, tenantId=tenant.id), DESIRED_VALUE.key: "false"}
        (project / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}))  # no clientId
    env = {
        **engine_env(pulumi_bin, pulumi_home, tmp_path / "backend", emulator),
        "ARM_USE_OIDC": "true",
        "ARM_CLIENT_ID": app.client_id,  # the pipeline names the app; the stack files name only their tenant
        **emulator.github_actions(subject),
    }
    leaks.add_secret(env["PULUMI_CONFIG_PASSPHRASE"], "the stacks' passphrase")
    leaks.roots += [project, tmp_path / "backend"]
    done = subprocess.run(
        [sys.executable, "-m", "fleet", "up"], cwd=project, env=env, capture_output=True, text=True, check=False, timeout=600
    )
    leaks.printed("python -m fleet up", done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [tenant.bitlocker for tenant in customers.values()] == [False, False, False]
    assert app.federated_subjects == {subject}  # one credential
    for tenant in customers.values():  # signed in to each tenant with the job's one identity
        assert set(assertion_subjects(emulator, tenant)) == {subject}


def test_each_stack_costs_the_cli_processes_the_automation_api_runs(
    pulumi_bin: str, pulumi_home: Path, tmp_path: Path, emulator: Emulator, leaks: LeakCheck
) -> None:
    """The engine pays what the published Automation API runs (bench/README.md, "Automation API",
    measures it): per stack, `pulumi stack select`, the command, then after `up` two `pulumi stack
    output` and a `pulumi stack history`, after `refresh` the history (pulumi/automation/_stack.py,
    Stack.up and Stack.refresh). `drift` starts none for a converged tenant. A run adds `pulumi
    version` and `pulumi whoami`, the backend's check. When Pulumi changes what it runs, this fails:
    measure again, and say so in bench/README.md and fleet/engine.py."""
    project = copy_project(tmp_path / "project")
    app = emulator.add_tenant().add_app()
    tenants = {f"t{index:02d}": emulator.add_tenant(bitlocker=True) for index in range(2)}
    for name, tenant in tenants.items():
        tenant.consent(app)
        config = {**emulator_config(emulator, tenantId=tenant.id, clientId=app.client_id), DESIRED_VALUE.key: "false"}
        (project / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}))
    shim, log = tmp_path / "shim", tmp_path / "pulumi-calls.log"
    shim.mkdir()
    (shim / "pulumi").write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{pulumi_bin}/pulumi" "$@"\n')
    (shim / "pulumi").chmod(0o755)
    env = {**engine_env(pulumi_bin, pulumi_home, tmp_path / "backend", emulator), "ARM_CLIENT_SECRET": app.add_secret()}
    env["PATH"] = f"{shim}{os.pathsep}{env['PATH']}"
    leaks.add_secret(env["PULUMI_CONFIG_PASSPHRASE"], "the stacks' passphrase")
    leaks.roots += [project, tmp_path / "backend"]

    def calls(*args: str, expect: int = 0) -> list[str]:
        log.write_text("")
        done = subprocess.run(
            [sys.executable, "-m", "fleet", *args], cwd=project, env=env, capture_output=True, text=True, check=False
        )
        leaks.printed(f"python -m fleet {args[0]}", done.stdout + done.stderr)
        assert done.returncode == expect, done.stdout + done.stderr
        commands = [[word for word in line.split() if not word.startswith("-")] for line in log.read_text().splitlines()]
        return sorted(" ".join(words[:1] if words[0] in ("up", "preview", "refresh") else words[:2]) for words in commands)

    calls("up")  # creates the stacks: `stack select` finds none, `stack init` makes each
    run = ["version", "whoami"]
    assert calls("up") == sorted(run + ["stack select", "up", "stack output", "stack output", "stack history"] * 2)
    assert calls("preview") == sorted(run + ["stack select", "preview"] * 2)
    assert calls("refresh") == sorted(run + ["stack select", "refresh", "stack history"] * 2)
    history = [line for line in log.read_text().splitlines() if "stack history" in line]
    assert history
    assert not [line for line in history if "--show-secrets" in line]  # the engine's show_secrets=False
    assert calls("drift") == []  # each tenant has its stack's declared value: no engine needed
    emulator.set_bitlocker(tenants["t01"], True)
    # Why t01 differs, from its last up: the Automation API reads outputs twice, masked and not
    # (pulumi/automation/_stack.py, Stack.outputs).
    assert calls("drift", expect=3) == ["stack output", "stack output", "stack select", "version", "whoami"]
    # Pages and history read every stack's outputs from the file backend's checkpoints: no CLI process a stack.
    assert calls("report", "--out", str(tmp_path / "pages"), expect=3) == run
    assert calls("history") == run
