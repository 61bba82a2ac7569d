"""What a tenant costs at scale: requests per tenant for `report` and `history`, and stacks' outputs read
from a DIY backend's checkpoint files without a CLI process (bench/fleet.py measures the time)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import httpx
import pytest

from emulator import Emulator, Tenant
from emulator.audit import AUDIT_ROLE
from fleet.diy_backend import checkpoint_outputs, empty_sidecars, empty_sidecars_failure
from fleet.drift import DriftCheck
from fleet.history import MOST
from fleet.outcome import Outcome
from fleet.stacks import StackFile
from providers.properties import StackOutputs
from providers.signin.discovery_cache import DiscoveryCache
from tests.support.emulated import emulator_config

pytestmark = pytest.mark.usefixtures("trust_emulator")

DECLARED = "bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice"


@pytest.fixture
def stack(tmp_path: Path, emulator: Emulator, tenant: Tenant) -> StackFile:
    """A stack declaring `false` for `tenant`, whose app may read the audit log."""
    app = tenant.add_app()
    app.roles.add(AUDIT_ROLE)
    config = {
        **emulator_config(emulator, tenantId=tenant.id, clientId=app.client_id, clientSecret=app.add_secret()),
        DECLARED: "false",
    }
    return StackFile("prod", tmp_path / "Pulumi.prod.yaml", config)


def requests_of(emulator: Emulator, tenant: Tenant, stack: StackFile, http: httpx.Client, *, every: bool) -> list[str]:
    """The requests one tenant's row of `report` (every=False) or `history` (every=True) costs, by kind."""
    last = StackOutputs(tenant.id, False, liveValue=False)
    check = DriftCheck(http, DiscoveryCache(), lambda _: last, lambda _: {}, history=MOST, every=every)
    check(stack, Outcome(stack.name, tenant.id))
    graph = ["audit" if r.path.lower().endswith("/directoryaudits") else r.method for r in emulator.graph_requests(tenant=tenant)]
    return ["token" for _ in emulator.token_requests(tenant)] + graph


def test_a_converged_tenants_report_page_costs_one_token_and_one_get_and_no_audit_read(
    emulator: Emulator, tenant: Tenant, stack: StackFile, http: httpx.Client
) -> None:
    emulator.set_bitlocker(tenant, False)
    assert requests_of(emulator, tenant, stack, http, every=False) == ["token", "GET"]


def test_a_drifted_tenants_report_page_reads_the_audit_log_once(
    emulator: Emulator, tenant: Tenant, stack: StackFile, http: httpx.Client
) -> None:
    emulator.set_bitlocker(tenant, False)
    emulator.set_bitlocker(tenant, True, by="erin@contoso.com")
    assert requests_of(emulator, tenant, stack, http, every=False) == ["token", "GET", "audit"]


def test_history_reads_every_tenants_audit_log_once_converged_or_not(
    emulator: Emulator, tenant: Tenant, stack: StackFile, http: httpx.Client
) -> None:
    emulator.set_bitlocker(tenant, False)
    assert requests_of(emulator, tenant, stack, http, every=True) == ["token", "GET", "audit"]


def checkpoint(outputs: dict[str, object] | None) -> bytes:
    """A checkpoint file as the CLI writes it (apitype.VersionedCheckpoint), its stack resource holding `outputs`."""
    stack = {"urn": "urn:pulumi:s::bitlocker-policy::pulumi:pulumi:Stack::bitlocker-policy-s", "type": "pulumi:pulumi:Stack"}
    latest = {"resources": [{**stack, "outputs": outputs}] if outputs is not None else []}
    return json.dumps({"version": 3, "checkpoint": {"stack": "s", "latest": latest}}).encode()


def test_stack_outputs_come_from_a_diy_backends_checkpoint_files_and_the_cli_reads_the_rest(tmp_path: Path) -> None:
    stacks = tmp_path / "state" / ".pulumi" / "stacks" / "bitlocker-policy"
    stacks.mkdir(parents=True)
    (tmp_path / "state" / ".pulumi" / "meta.yaml").write_text("version: 1\n")
    ours = {"tenantId": "t1", "allowedToReadBitlockerKeysForOwnedDevice": False, "lastPatchAt": "2026-12-07T10:00:00Z"}
    (stacks / "plain.json").write_bytes(checkpoint(ours))
    (stacks / "packed.json.gz").write_bytes(gzip.compress(checkpoint({**ours, "tenantId": "t2"})))
    (stacks / "initialised.json").write_bytes(checkpoint(None))
    (stacks / "secret.json").write_bytes(
        checkpoint(
            {
                **ours,
                "lastPatchRequestId": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "x"},
            }
        )
    )
    (stacks / "zstd.json.zst").write_bytes(b"\x28\xb5\x2f\xfd")
    (stacks / "broken.json").write_text("{")
    names = ["plain", "packed", "initialised", "missing", "secret", "zstd", "broken"]
    found = checkpoint_outputs(f"file://{tmp_path / 'state'}", "bitlocker-policy", names)
    assert found == {
        "plain": StackOutputs("t1", False, lastPatchAt="2026-12-07T10:00:00Z"),
        "packed": StackOutputs("t2", False, lastPatchAt="2026-12-07T10:00:00Z"),
        "initialised": None,
        "missing": None,  # not in the backend: never deployed
    }  # the CLI reads the secret, zstd and broken ones
    assert checkpoint_outputs("https://api.pulumi.com", "bitlocker-policy", names) == {}
    (tmp_path / "state" / ".pulumi" / "meta.yaml").write_text("version: 0\n")  # the legacy layout
    assert checkpoint_outputs(f"file://{tmp_path / 'state'}", "bitlocker-policy", names) == {}


def test_the_empty_metadata_files_of_a_diy_backend_are_found_and_nothing_else(tmp_path: Path) -> None:
    pulumi = tmp_path / "state" / ".pulumi"
    (pulumi / "stacks" / "bitlocker-policy").mkdir(parents=True)
    (pulumi / "locks" / "organization" / "bitlocker-policy" / "a").mkdir(parents=True)
    (pulumi / "meta.yaml").write_text("version: 1\n")
    (pulumi / "meta.yaml.attrs").write_text('{"user.content_type":"text/plain"}')
    (pulumi / "stacks" / "bitlocker-policy" / "a.json").write_text("{}")
    (pulumi / "stacks" / "bitlocker-policy" / "a.json.attrs").write_bytes(b"")  # what a kill left
    (pulumi / "stacks" / "bitlocker-policy" / "b.json").write_bytes(b"")  # empty, but no metadata file
    (pulumi / "locks" / "organization" / "bitlocker-policy" / "a" / "x.json.attrs").write_bytes(b"")
    url = f"file://{tmp_path / 'state'}"
    assert empty_sidecars(url) == [
        pulumi / "locks" / "organization" / "bitlocker-policy" / "a" / "x.json.attrs",
        pulumi / "stacks" / "bitlocker-policy" / "a.json.attrs",
    ]
    (pulumi / "meta.yaml").write_text("version: 0\n")  # the legacy layout: fileblob writes its sidecars all the same
    assert len(empty_sidecars(url)) == 2
    assert empty_sidecars("azblob://state") == []
    assert empty_sidecars(f"file://{tmp_path / 'elsewhere'}") == []


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("failed to load checkpoint: EOF", True),  # a stack's own commands
        ("EOF", True),  # pulumi stack ls, stack select
        ("error reading from server: EOF", False),  # a plugin that died: not a metadata file
        ("no stack named 'a' found", False),
    ],
)
def test_only_the_clis_bare_eof_is_taken_for_an_empty_metadata_file(tmp_path: Path, line: str, named: bool) -> None:
    pulumi = tmp_path / ".pulumi" / "stacks" / "p"
    pulumi.mkdir(parents=True)
    for index in range(5):
        (pulumi / f"s{index}.json.attrs").write_bytes(b"")
    said = empty_sidecars_failure(f"file://{tmp_path}", line)
    if not named:
        assert said is None
        return
    assert said == (
        f"the CLI cannot read the backend past an empty metadata file, left by a process killed while writing it ({line}): "
        f"delete '{pulumi / 's0.json.attrs'}', '{pulumi / 's1.json.attrs'}', '{pulumi / 's2.json.attrs'}' and 2 more "
        f"(`find {tmp_path / '.pulumi'} -name '*.attrs' -size 0` lists them) (a missing one reads as its defaults; "
        "no state is lost), then run again"
    )
