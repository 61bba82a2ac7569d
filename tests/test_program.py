"""The program under Pulumi's mocks: what it declares from the stack config."""

from __future__ import annotations

import base64
import json
import runpy
import subprocess
import sys
from typing import Any

import dill
import pulumi
import pytest
from pulumi.runtime import rpc

from providers import BitlockerAdoption, BitlockerKeyAccess, BitlockerKeyAccessProvider
from providers.config.settings import DESIRED_VALUE
from providers.graph.authorization_policy import BITLOCKER_KEYS
from providers.properties import (
    DECLARED_PROPERTY,
    TENANT_PROPERTY,
    AdoptionProperties,
    SettingProperties,
    StackOutputs,
    names,
)
from tests.support.paths import REPO

PROGRAM = REPO / "__main__.py"
TENANT = "8f3a0c5e-5d2b-4c3e-9a51-d3e1b2c4a6f7"
DESIRED_KEY = "bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice"


class Recorder(pulumi.runtime.Mocks):
    """Keeps every resource the program registers."""

    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        return f"{args.name}-id", args.inputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


def run_program(config: dict[str, str]) -> Recorder:
    """Run __main__.py under mocks with this stack config; the registered resources."""
    recorder = Recorder()
    pulumi.runtime.set_mocks(recorder, project="bitlocker-policy", stack="test", preview=False)
    pulumi.runtime.set_all_config(config, [])

    def run_main() -> None:
        runpy.run_path(str(PROGRAM))  # __main__.py, as the CLI runs it

    pulumi.runtime.test(run_main)()  # type: ignore[no-untyped-call]  # runs the program, waits for registrations
    return recorder


def the_resource(recorder: Recorder) -> pulumi.runtime.MockResourceArgs:
    """The setting; the adoption record it depends on must be declared, read-only, before it."""
    adoption, resource = [r for r in recorder.resources if r.typ != "pulumi:pulumi:Stack"]
    assert (adoption.typ, adoption.name) == ("pulumi-python:dynamic/entra:BitlockerAdoption", "bitlocker-adoption")
    assert adoption.inputs["tenantId"] == resource.inputs["tenantId"]
    return resource


@pytest.mark.parametrize(("raw", "expected"), [("false", False), ("TRUE", True), ("maybe", "maybe")])
def test_declares_one_resource_with_the_desired_value(raw: str, expected: object) -> None:
    resource = the_resource(
        run_program(
            {
                "azuread:tenantId": TENANT,
                "bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice": raw,
            }
        )
    )
    assert resource.typ == "pulumi-python:dynamic/entra:BitlockerKeyAccess"
    assert resource.name == "bitlocker-key-access"
    assert resource.inputs["tenantId"] == TENANT
    assert resource.inputs["allowedToReadBitlockerKeysForOwnedDevice"] == expected
    assert resource.inputs["stack"] == "test"  # where delete looks up retainOnDelete as it stands now


def test_tenant_falls_back_to_arm_tenant_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARM_TENANT_ID", TENANT)
    resource = the_resource(run_program({"bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice": "true"}))
    assert resource.inputs["tenantId"] == TENANT


def test_the_serialized_provider_is_the_stateless_class() -> None:
    resource = the_resource(
        run_program(
            {
                "azuread:tenantId": TENANT,
                "azuread:clientSecret": "never-in-state",
                "bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice": "false",
            }
        )
    )
    stored = resource.inputs["__provider"]
    assert isinstance(stored, dict)
    assert stored.get(rpc._special_sig_key) == rpc._special_secret_sig
    pickled = base64.b64decode(stored["value"])
    assert b"never-in-state" not in pickled
    provider = dill.loads(pickled)  # noqa: S301 -- bytes this test just produced
    assert type(provider) is BitlockerKeyAccessProvider
    assert vars(provider) == {}


def test_the_program_process_imports_no_http_token_or_crypto_module() -> None:
    """The program only declares resources: httpx, MSAL and cryptography load in the provider alone."""
    script = (
        "import json, sys\n"
        "from tests.test_program import TENANT, run_program\n"
        f"run_program({{'azuread:tenantId': TENANT, '{DESIRED_KEY}': 'false'}})\n"
        "heavy = ('httpx', 'msal', 'requests', 'cryptography', 'jwt')\n"
        "loaded = [m for m, module in sys.modules.items() if module is not None]  # None: blocked, not loaded\n"
        "print(json.dumps(sorted(m for m in loaded if m.split('.')[0] in heavy)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=PROGRAM.parent, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.splitlines()[-1]) == []


def test_the_provider_loads_no_command_line_tool_with_httpx() -> None:
    """With click, pygments and rich installed (here they are), `import httpx` would load all three."""
    script = (
        "import json, sys\n"
        "import providers.session, providers.signin.tokens\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('click', 'pygments', 'rich'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=PROGRAM.parent, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.splitlines()[-1]) == []
    assert subprocess.run([sys.executable, "-c", "import click, pygments, rich"], check=False).returncode == 0


def test_the_exports_are_what_the_fleet_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """A renamed export and the fleet's reading of it (StackOutputs) cannot drift apart."""
    exported: dict[str, Any] = {}

    def export(name: str, value: pulumi.Output[Any]) -> None:
        exported[name] = None
        value.apply(lambda resolved: exported.__setitem__(name, resolved))

    monkeypatch.setattr(pulumi, "export", export)
    run_program({"azuread:tenantId": TENANT, DESIRED_KEY: "false"})
    assert tuple(exported) == names(StackOutputs)
    assert set(names(StackOutputs)) <= set(names(SettingProperties))  # each export is the setting's own output
    read = StackOutputs.of(exported)  # as the fleet reads `pulumi stack output`
    assert (read.tenantId, read.allowedToReadBitlockerKeysForOwnedDevice) == (TENANT, False)


@pytest.mark.parametrize(
    ("resource", "properties"), [(BitlockerKeyAccess, SettingProperties), (BitlockerAdoption, AdoptionProperties)]
)
def test_each_resource_declares_exactly_its_properties(resource: type, properties: type[SettingProperties]) -> None:
    assert tuple(resource.__annotations__) == names(properties)


def test_the_names_pulumi_is_given_alone_are_the_properties_own_and_the_fields_graph_name() -> None:
    """A check failure or a replacement names a property by its key: one the state really has."""
    assert all(TENANT_PROPERTY in names(properties) for properties in (SettingProperties, AdoptionProperties, StackOutputs))
    assert all(DECLARED_PROPERTY in names(properties) for properties in (SettingProperties, StackOutputs))
    assert BITLOCKER_KEYS.name == DECLARED_PROPERTY
    assert DESIRED_VALUE.key == DESIRED_KEY
