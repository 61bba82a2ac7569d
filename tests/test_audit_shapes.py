"""Every plausible shape of the field's row in a real "Update authorization policy" event, through drift,
preview (the provider's diff) and history; and the recovery-key reads beside them.

No published event shows the row of allowedToReadBitlockerKeysForOwnedDevice (splunk/security_content,
data_sources/azure_active_directory_update_authorization_policy.yml shows the conventions of its
siblings), so the emulator serves each shape (emulator/audit.py, SHAPES) and each must say who
changed the tenant, or what the log says instead, never that there is nothing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from emulator import Emulator, Tenant
from emulator.audit import AUDIT_ROLE, SHAPES, policy_update
from fleet.drift import DriftCheck
from fleet.history import MOST
from fleet.outcome import NONE, UPDATE, Outcome
from fleet.stacks import StackFile
from fleet.writers.display import print_history
from fleet.writers.report import write_pages
from providers import provider_base
from providers.bitlocker import DRIFT_MARK, BitlockerKeyAccessProvider
from providers.graph.audit import KeyReads, changes
from providers.graph.client import GraphClient
from providers.properties import StackOutputs
from providers.session import Session
from providers.signin.discovery_cache import DiscoveryCache
from tests.support.emulated import Configure, emulator_config
from tests.support.provider import inputs, preview, up

pytestmark = pytest.mark.usefixtures("trust_emulator")

ACTOR = "erin@contoso.com"
UNTIED = "no setting named"
UNSTATED = "Included Updated Properties only"


def said(shape: str) -> str:
    """What drift and preview say of ACTOR's change logged in `shape`, up to its time."""
    if shape == UNTIED:
        return f"an authorization-policy change by {ACTOR} at 20"
    return f"changed by {ACTOR} at 20"


def ends(shape: str) -> str:
    return {UNTIED: "; the log does not say which setting", UNSTATED: " (the log does not give the value)"}.get(shape, " UTC")


@pytest.fixture
def config(emulator: Emulator, tenant: Tenant) -> dict[str, str]:
    app = tenant.add_app()
    app.roles.add(AUDIT_ROLE)
    return {
        **emulator_config(emulator, tenantId=tenant.id, clientId=app.client_id, clientSecret=app.add_secret()),
        "bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice": "false",
        "bitlocker-policy:consistencyWindowSeconds": "0",
    }


def audit_reads(emulator: Emulator, tenant: Tenant) -> int:
    return sum(r.path.lower().endswith("/directoryaudits") for r in emulator.graph_requests("GET", tenant))


@pytest.mark.parametrize("shape", list(SHAPES))
def test_drift_and_history_say_who_in_every_shape(
    shape: str, config: dict[str, str], emulator: Emulator, tenant: Tenant, http: httpx.Client, tmp_path: Path
) -> None:
    tenant.audit.shape = shape
    emulator.set_bitlocker(tenant, False)
    emulator.set_bitlocker(tenant, True, by=ACTOR)
    stack = StackFile("prod", tmp_path / "Pulumi.prod.yaml", config)
    last = StackOutputs(tenant.id, False, liveValue=False)
    for history in (0, MOST):
        before = audit_reads(emulator, tenant)
        outcome = DriftCheck(http, DiscoveryCache(), lambda _: last, lambda _: {}, history=history)(
            stack, Outcome("prod", tenant.id)
        )
        assert (outcome.action, outcome.live) == (UPDATE, True)
        assert str(outcome.changed).startswith(said(shape)), outcome.changed
        assert str(outcome.changed).endswith(ends(shape)), outcome.changed
        assert audit_reads(emulator, tenant) - before == 1  # one read serves the verdict's note and the history
    rows = outcome.history or []
    if shape == UNTIED:  # told as what it is, a note row (no time), never "not in the audit log"
        assert [row["at"] for row in rows] == [None, None]
        assert str(rows[0]["by"]).startswith(said(shape))
        assert str(rows[0]["by"]).endswith(ends(shape))
    else:
        assert [(row["by"].split(" ")[0], row["to"]) for row in rows] == [
            (ACTOR, None if shape == UNSTATED else True),
            ("admin@" + tenant.domain, None if shape == UNSTATED else False),
        ]


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_drifted_preview_says_who_in_every_shape(
    shape: str,
    configure: Configure,
    config: dict[str, str],
    emulator: Emulator,
    tenant: Tenant,
    http: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tenant.audit.shape = shape
    outs = up(configure(config), tenant, False)
    emulator.set_bitlocker(tenant, True, by=ACTOR)
    monkeypatch.setattr(BitlockerKeyAccessProvider, "serving_preview", lambda _self: True)  # as under `pulumi preview`
    monkeypatch.setattr(provider_base, "_process_session", lambda sources: Session(sources, http_factory=lambda: http))
    capsys.readouterr()
    preview(configure(config), outs, inputs(tenant, False))
    line = next(line for line in capsys.readouterr().err.splitlines() if DRIFT_MARK in line)
    assert f"{DRIFT_MARK}true, {said(shape)}" in line
    assert line.endswith(ends(shape)), line


def test_a_permissions_row_that_holds_only_other_fields_is_no_change_of_this_one(
    emulator: Emulator, tenant: Tenant, config: dict[str, str], http: httpx.Client
) -> None:
    tenant.audit.shape = "DefaultUserRolePermissions object"
    emulator.set_bitlocker(tenant, False, by=ACTOR)
    now = datetime.now(UTC) + timedelta(seconds=1)
    other = policy_update(tenant.policy_object_id, None, None, now, user={"userPrincipalName": "x"}, app=None)
    other["targetResources"][0]["modifiedProperties"] = [
        {
            "displayName": "DefaultUserRolePermissions",
            "oldValue": '[{"AllowedToCreateApps":true}]',
            "newValue": '[{"AllowedToCreateApps":false}]',
        },
        {"displayName": "Included Updated Properties", "oldValue": None, "newValue": '"DefaultUserRolePermissions"'},
    ]
    tenant.audit.record(other, now)
    found = changes(_graph(emulator, tenant, config, http), most=5)
    assert [(change.by, change.new) for change in found.changes] == [(ACTOR, False)]
    assert found.untied == ()


@pytest.mark.parametrize(
    "rows",
    [
        [{"displayName": "DefaultUserRolePermissions", "oldValue": "Microsoft.Online.Permissions", "newValue": "[]"}],
        [{"displayName": "Included Updated Properties", "oldValue": None, "newValue": '"DefaultUserRolePermissions"'}],
    ],
    ids=["a permissions row with no object", "only the permissions row listed"],
)
def test_a_row_that_may_hide_the_field_is_told_as_an_untied_policy_change(
    rows: list[dict[str, str | None]], emulator: Emulator, tenant: Tenant, config: dict[str, str], http: httpx.Client
) -> None:
    emulator.set_bitlocker(tenant, False)
    emulator.set_bitlocker(tenant, True, by=ACTOR)
    tenant.audit.events[-1].document["targetResources"][0]["modifiedProperties"] = rows
    found = changes(_graph(emulator, tenant, config, http), most=1, to=True)
    assert found.changes == ()
    assert found.describe().startswith(f"an authorization-policy change by {ACTOR} at 20")


def test_the_emulated_event_follows_the_published_conventions(
    emulator: Emulator, tenant: Tenant, config: dict[str, str], http: httpx.Client
) -> None:
    emulator.set_bitlocker(tenant, False, by=ACTOR)
    event = tenant.audit.events[-1].document
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z", event["activityDateTime"])
    assert [detail["key"] for detail in event["additionalDetails"]] == ["User-Agent"]
    rows = event["targetResources"][0]["modifiedProperties"]
    assert (rows[0]["newValue"], rows[-1]["displayName"]) == ("[false]", "Included Updated Properties")
    token = emulator.access_token(tenant, (AUDIT_ROLE,))
    answer = http.get(
        f"{emulator.url}/v1.0/auditLogs/directoryAudits",
        params={"$filter": "startswith(activityDisplayName,'Update auth') or activityDisplayName eq 'Read BitLocker key'"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert [e["id"] for e in answer.json()["value"]] == [event["id"]]


def _graph(emulator: Emulator, tenant: Tenant, config: dict[str, str], http: httpx.Client) -> GraphClient:
    token = emulator.access_token(tenant, (AUDIT_ROLE,), app_id=config["azuread:clientId"])
    return GraphClient(http, emulator.url, lambda: token)


# -- evidence of effect: recovery-key reads --------------------------------------------------------------


def test_key_reads_come_from_the_same_read_as_who_changed_it_across_pages(
    emulator: Emulator, tenant: Tenant, config: dict[str, str], http: httpx.Client, tmp_path: Path
) -> None:
    emulator.set_bitlocker(tenant, False)
    for _ in range(60):  # more than a page (audit.PAGE = 50) of key reads
        emulator.read_key(tenant, "dana@contoso.com", "LAPTOP-7")
    emulator.read_key(tenant, ACTOR, "LAPTOP-9")
    stack = StackFile("prod", tmp_path / "Pulumi.prod.yaml", config)
    last = StackOutputs(tenant.id, False, liveValue=False)
    check = DriftCheck(http, DiscoveryCache(), lambda _: last, lambda _: {}, history=MOST, every=True)  # `fleet history`
    before = audit_reads(emulator, tenant)
    outcome = check(stack, Outcome("prod", tenant.id))
    assert audit_reads(emulator, tenant) - before == 2  # two pages, shared with the history: no read of their own
    assert outcome.key_reads == {
        "reads": 61,
        "keys": 2,
        "complete": True,
        "readers": [{"by": "dana@contoso.com", "count": 60}, {"by": ACTOR, "count": 1}],
    }
    assert Outcome.from_json(outcome.to_json()).key_reads == outcome.key_reads
    assert KeyReads.from_json(outcome.key_reads).describe() == (
        f"61 BitLocker recovery key reads (2 keys): dana@contoso.com 60, {ACTOR} 1"
    )
    outcome.customer, outcome.declared, outcome.action = "Contoso", False, NONE
    write_pages(tmp_path / "pages", "html", [outcome], datetime.now(UTC))  # the customer's page shows them
    page = (tmp_path / "pages" / "prod.html").read_text()
    assert f"61 times, for 2 devices, by dana@contoso.com (60), {ACTOR} (1)" in page
    converged = DriftCheck(http, DiscoveryCache(), lambda _: last, lambda _: {})  # `fleet drift`
    before = audit_reads(emulator, tenant)
    assert converged(stack, Outcome("prod", tenant.id)).key_reads is None
    assert audit_reads(emulator, tenant) == before  # a converged tenant: no audit read


def test_history_prints_the_key_reads_and_a_refusal_costs_one_request(
    emulator: Emulator, tenant: Tenant, config: dict[str, str], http: httpx.Client, tmp_path: Path
) -> None:
    from rich.console import Console

    emulator.read_key(tenant, ACTOR)
    stack = StackFile("prod", tmp_path / "Pulumi.prod.yaml", config)
    check = DriftCheck(http, DiscoveryCache(), lambda _: None, lambda _: {}, history=MOST)
    console = Console(width=200, record=True)
    print_history(console, "history", [check(stack, Outcome("prod", tenant.id))])
    assert f"prod: 1 BitLocker recovery key read (1 key): {ACTOR} 1" in console.export_text()
    tenant.apps[config["azuread:clientId"]].roles.discard(AUDIT_ROLE)
    before = audit_reads(emulator, tenant)
    refused = check(stack, Outcome("prod", tenant.id))
    assert audit_reads(emulator, tenant) - before == 1
    assert refused.key_reads is None
    assert str((refused.history or [{}])[0]["by"]).startswith(
        "who changed it is unknown: grant the app the Graph permissions AuditLog.Read.All and Directory.Read.All"
    )


def test_a_graph_that_refuses_the_or_of_two_activities_still_says_who_and_leaves_key_reads_untold(
    emulator: Emulator, tenant: Tenant, config: dict[str, str], http: httpx.Client
) -> None:
    emulator.set_bitlocker(tenant, False, by=ACTOR)
    emulator.read_key(tenant, ACTOR)
    emulator.faults.fail(400, count=1, endpoint="audit")  # `or` is OData's, not named for directoryAudits
    before = audit_reads(emulator, tenant)
    found = changes(_graph(emulator, tenant, config, http), most=1, to=False)
    assert [change.by for change in found.changes] == [ACTOR]
    assert found.key_reads is None
    assert audit_reads(emulator, tenant) - before == 2
