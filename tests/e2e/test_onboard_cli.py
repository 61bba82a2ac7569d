"""`fleet onboard` under the real CLI: stack files and backend stacks, twice, the second run changing nothing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from emulator import Emulator
from fleet.onboard import stack_file_text
from tests.support.emulated import emulator_config
from tests.support.engine import copy_project, engine_env, fleet
from tests.support.leaks import LeakCheck

pytestmark = pytest.mark.engine


def backend_stacks(project: Path, env: dict[str, str]) -> list[str]:
    """`pulumi stack ls`: the stacks the backend holds for the project."""
    listed = subprocess.run(
        ["pulumi", "stack", "ls", "--json"], cwd=project, env=env, capture_output=True, text=True, check=True, timeout=120
    )
    return sorted(stack["name"] for stack in yaml.safe_load(listed.stdout))


def files(project: Path) -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted((project / "stacks").glob("Pulumi.*.yaml"))}


def imported_twice(project: Path, env: dict[str, str], leaks: LeakCheck, *args: str) -> tuple[str, str]:
    """Run the import twice; each run's stdout after checking the second changed no file and no backend stack."""
    first = fleet(project, env, "onboard", *args)
    leaks.printed("python -m fleet onboard", first.stdout + first.stderr)
    assert first.returncode == 0, first.stdout + first.stderr
    written, stacks = files(project), backend_stacks(project, env)
    second = fleet(project, env, "onboard", *args)
    leaks.printed("python -m fleet onboard", second.stdout + second.stderr)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "onboard: nothing changed: all" in second.stderr
    assert (files(project), backend_stacks(project, env)) == (written, stacks)
    return first.stdout, second.stdout


def test_a_csv_is_imported_into_stack_files_and_backend_stacks_and_a_second_run_changes_nothing(
    pulumi_bin: str, pulumi_home: Path, tmp_path: Path, emulator: Emulator, leaks: LeakCheck
) -> None:
    project = copy_project(tmp_path / "project")
    env = engine_env(pulumi_bin, pulumi_home, tmp_path / "backend", emulator)
    leaks.add_secret(env["PULUMI_CONFIG_PASSPHRASE"], "the stacks' passphrase")
    leaks.roots += [project, tmp_path / "backend"]
    tenants = [emulator.add_tenant() for _ in range(2)]
    csv = tmp_path / "customers.csv"
    csv.write_text(
        "tenant,customer,declared,reason,approvedBy,expires\n"
        f"{tenants[0].id},Contoso Ltd.,false,,,\n"
        f"{tenants[1].domain},Fabrikam,true,developers recover test devices,sec@fabrikam.com,2030-12-31\n"
    )
    endpoints = [f"--config={key}={value}" for key, value in emulator_config(emulator).items()]

    first, second = imported_twice(project, env, leaks, "--csv", str(csv), *endpoints)

    assert [line.split("\t")[:3] for line in first.splitlines()] == [
        ["contoso-ltd", tenants[0].id, "new"],
        ["fabrikam", tenants[1].id, "new"],  # a domain is resolved: the file names the GUID
    ]
    assert [line.split("\t")[2] for line in second.splitlines()] == ["unchanged", "unchanged"]
    assert backend_stacks(project, env) == ["contoso-ltd", "fabrikam"]
    # `pulumi stack init` kept the file as written and only added its salt.
    text = (project / "stacks" / "Pulumi.fabrikam.yaml").read_text()
    config = yaml.safe_load(text)["config"]
    assert text.startswith(stack_file_text(config))
    assert set(yaml.safe_load(text)) == {"config", "encryptionsalt"}
    assert config["bitlocker-policy:exception"]["approvedBy"] == "sec@fabrikam.com"
    # The fleet takes the stacks as they are: each with its tenant's GUID.
    matrix = fleet(project, env, "matrix")
    assert json.loads(matrix.stdout) == {
        "include": [{"stack": "contoso-ltd", "tenant": tenants[0].id}, {"stack": "fabrikam", "tenant": tenants[1].id}]
    }


def test_the_gdap_customers_are_imported_and_a_second_run_changes_nothing(
    pulumi_bin: str, pulumi_home: Path, tmp_path: Path, emulator: Emulator, leaks: LeakCheck
) -> None:
    project = copy_project(tmp_path / "project")
    partner = emulator.add_tenant()
    app = partner.add_app(roles=("DelegatedAdminRelationship.Read.All",))
    partner.gdap.page_size = 2
    customers = [emulator.add_tenant() for _ in range(3)]
    for customer, name in zip(customers, ("Contoso", "Contoso", "Northwind Traders"), strict=True):
        partner.gdap.add(customer.id, name)
    env = {
        **engine_env(pulumi_bin, pulumi_home, tmp_path / "backend", emulator),
        "ARM_CLIENT_ID": app.client_id,
        "ARM_CLIENT_SECRET": app.add_secret(),
    }
    leaks.add_secret(env["PULUMI_CONFIG_PASSPHRASE"], "the stacks' passphrase")
    leaks.roots += [project, tmp_path / "backend"]
    endpoints = [f"--config={key}={value}" for key, value in emulator_config(emulator).items()]

    first, _ = imported_twice(project, env, leaks, "--gdap", partner.id, "--declare", "false", *endpoints)

    names = [f"contoso-{customers[0].id[:8]}", f"contoso-{customers[1].id[:8]}", "northwind-traders"]
    assert [line.split("\t")[0] for line in first.splitlines()] == names
    assert backend_stacks(project, env) == sorted(names)
    config = yaml.safe_load((project / "stacks" / "Pulumi.northwind-traders.yaml").read_text())["config"]
    assert config["bitlocker-policy:customerName"] == "Northwind Traders"
    assert config["bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice"] == "false"


def test_a_backend_nobody_logged_in_to_writes_no_stack_file(
    pulumi_bin: str, pulumi_home: Path, tmp_path: Path, emulator: Emulator, leaks: LeakCheck
) -> None:
    project = copy_project(tmp_path / "project")
    env = engine_env(pulumi_bin, pulumi_home, tmp_path / "backend", emulator)
    del env["PULUMI_BACKEND_URL"]  # Pulumi Cloud, and no PULUMI_ACCESS_TOKEN
    csv = tmp_path / "customers.csv"
    csv.write_text(f"tenant,customer,declared\n{emulator.add_tenant().id},Contoso,false\n")

    done = fleet(project, env, "onboard", "--csv", str(csv))

    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: the Pulumi backend cannot be used"), done.stderr
    assert files(project) == {}
