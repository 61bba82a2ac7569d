"""Who changed it is context: no answer of the audit log changes what `fleet drift`, `fleet history` or a preview does.

Each shape below is an answer the audit log (or what stands in its place) can give for a tenant
that drifted. Every run over it must end as a run without AuditLog.Read.All ends (the same
live value, verdict and exit code), say who changed it or why that is unknown, raise nothing,
print nothing a UTF-8 writer refuses, and wait no longer than the attribution's own budget.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator import Emulator, Tenant
from emulator.audit import AUDIT_ROLE
from fleet.drift import DriftCheck
from fleet.history import MOST
from fleet.outcome import EXIT_CHANGES, UPDATE, Outcome, exit_code
from fleet.stacks import StackFile
from fleet.writers.display import note_text
from providers import provider_base
from providers.bitlocker import DRIFT_MARK, BitlockerKeyAccessProvider
from providers.graph import audit
from providers.properties import StackOutputs
from providers.session import Session
from providers.signin.discovery_cache import DiscoveryCache
from tests.support.emulated import Configure, Sleeps, emulator_config
from tests.support.provider import inputs, preview, up
from tests.support.reliability_doc import Section, declare, record

pytestmark = pytest.mark.usefixtures("trust_emulator")

ACTOR = "erin@contoso.com"  # who drifted the tenant, in the portal
DEEP = b"[" * 100_000 + b"]" * 100_000  # valid JSON, deeper than Python's json reads


def _event(tenant: Tenant) -> dict[str, Any]:
    """The newest audit event: the drift's."""
    return tenant.audit.events[-1].document


def _row(tenant: Tenant) -> dict[str, Any]:
    """The drift event's row for the BitLocker field."""
    row: dict[str, Any] = _event(tenant)["targetResources"][0]["modifiedProperties"][0]
    return row


def _actor(raw: bytes) -> Callable[[Emulator, Tenant], None]:
    """Every answer of the audit log with the actor's UPN spelled as `raw` (bytes of the JSON body)."""
    return lambda emulator, _: emulator.faults.mangle("audit", lambda body: body.replace(ACTOR.encode(), raw), count=100)


@dataclass(frozen=True)
class Shape:
    """An audit-log answer: how to make the emulator give it, what the row says, how many requests it costs."""

    arm: Callable[[Emulator, Tenant], None]
    says: str  # what `changed` starts with
    requests: int = 1  # audit-log requests per lookup
    budget: float = audit.BUDGET_SECONDS
    note: str | None = None  # what the page says, when `says` is too long for it

    def shown(self) -> str:
        """The outcome's words for the reliability page."""
        text = self.note or self.says.replace("who changed it is unknown: ", "who: unknown, ")
        return text + "…)" if text.count("(") > text.count(")") else text


UNUSED = "who changed it is unknown: the audit log's answer could not be used"
UNREAD = "who changed it is unknown: the audit log could not be read"
SHAPES: dict[str, Shape] = {
    '`"targetResources": 5`': Shape(
        lambda _, t: _event(t).update(targetResources=5), f"{UNUSED} (an event's targetResources is not a list)"
    ),
    "`modifiedProperties: 7`": Shape(
        lambda _, t: _event(t)["targetResources"][0].update(modifiedProperties=7),
        f"{UNUSED} (a target resource's modifiedProperties is not a list)",
    ),
    "a modified property that is a string": Shape(
        lambda _, t: _event(t)["targetResources"][0].update(modifiedProperties=["x"]),
        f"{UNUSED} (a modified property is not a JSON object)",
    ),
    "an event that is a string": Shape(
        lambda e, _: e.faults.answer("audit", 200, {"value": ["Update authorization policy"]}, count=100),
        f"{UNUSED} (an event is not a JSON object)",
    ),
    "`value` that is a number": Shape(
        lambda e, _: e.faults.answer("audit", 200, {"value": 5}, count=100), f"{UNUSED} (the page's value is not a list)"
    ),
    "`activityDateTime` that is a number": Shape(
        lambda _, t: _event(t).update(activityDateTime=5), f"{UNUSED} (an event's activityDateTime is not a string)"
    ),
    "a page of `[` x 100000": Shape(
        lambda e, _: e.faults.mangle("audit", lambda _: b"[" * 100_000, count=100), f"{UNUSED} (nested too deeply)"
    ),
    "a `newValue` nested 100000 deep": Shape(
        lambda e, _: e.faults.mangle("audit", lambda body: body.replace(b'"newValue": "[true]"', b'"newValue": ' + DEEP), 100),
        f"{UNUSED} (nested too deeply)",
    ),
    "a `newValue` string of `[` x 100000": Shape(
        lambda _, t: _row(t).update(newValue="[" * 100_000), f"{UNUSED} (nested too deeply)"
    ),
    "a body that is not UTF-8": Shape(_actor(b"erin\xff@contoso.com"), f"{UNREAD} (Graph answered GET /v1.0/auditLogs/"),
    "an HTML page": Shape(lambda e, _: e.faults.garbage(count=100, endpoint="audit"), f"{UNREAD} (Graph answered GET"),
    "an actor's name with a lone surrogate": Shape(
        _actor(b"erin\\ud800@contoso.com"), "changed by erin\ufffd@contoso.com at 20", note="changed by erin\ufffd@contoso.com"
    ),
    "an actor's name with U+FFFE": Shape(
        _actor(b"erin\\ufffe@contoso.com"), "changed by erin\ufffd@contoso.com at 20", note="changed by erin\ufffd@contoso.com"
    ),
    "an actor's name of 5 MB": Shape(
        lambda _, t: _event(t)["initiatedBy"]["user"].update(userPrincipalName="erin" + "x" * 5_000_000),
        "changed by erin" + "x" * 115 + "…",
        note="changed by erinxxx…, the name cut to 120 characters",
    ),
    "429 with `Retry-After: 100`": Shape(
        lambda e, _: e.faults.fail(429, count=100, retry_after="100", endpoint="audit"),
        f"who changed it is unknown: the audit log gave no answer within the {audit.BUDGET_SECONDS:.0f} s attribution may take",
    ),
    "503 at every try": Shape(
        lambda e, _: e.faults.fail(503, count=100, endpoint="audit"), f"{UNREAD} (Graph is still throttling", requests=4
    ),
    "connection dropped at every try": Shape(
        lambda e, _: e.faults.drop(count=100, endpoint="audit"), f"{UNREAD} (Could not reach Graph at", requests=4
    ),
    "a body that never ends": Shape(
        lambda e, _: e.faults.slow(5.0, count=100, endpoint="audit"),
        "who changed it is unknown: the audit log gave no answer within the 1 s",
        budget=1.0,  # the test's, to stay short; BUDGET_SECONDS in use
        note="who: unknown, the audit log gave no answer within the budget (1 s in this test)",
    ),
}

DRIFT, HISTORY, PREVIEW = "fleet drift", "fleet history", "preview (provider diff)"
ATTRIBUTION_FAULTS = declare(
    "attribution faults",
    Section(
        "Attribution faults: the audit log's answer cannot be used",
        "A tenant declared `false` was set to `true` in the portal; the app may read the audit log "
        f"(AuditLog.Read.All), which answered as the row says. In every cell the live value, the verdict and the "
        f"exit code were those of a run without that permission, nothing raised, every text was UTF-8 "
        f"printable, and no wait exceeded attribution's own budget ({audit.BUDGET_SECONDS:.0f} s; a longer "
        "Retry-After ends the lookup at once). Each cell: the outcome, then how the row says who changed it.",
        cases=tuple(SHAPES),
        columns=(DRIFT, HISTORY, PREVIEW),
    ),
)


@pytest.fixture
def drifted(tmp_path: Path, emulator: Emulator, tenant: Tenant) -> StackFile:
    """A stack declaring `false` for `tenant`, whose last `up` set `false`, now set to `true` by ACTOR."""
    app = tenant.add_app()
    config = {
        **emulator_config(emulator, tenantId=tenant.id, clientId=app.client_id, clientSecret=app.add_secret()),
        "bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice": "false",
        "bitlocker-policy:consistencyWindowSeconds": "0",
    }
    emulator.set_bitlocker(tenant, False)
    emulator.set_bitlocker(tenant, True, by=ACTOR)
    return StackFile("prod", tmp_path / "Pulumi.prod.yaml", config)


def audit_reads(emulator: Emulator, tenant: Tenant) -> int:
    return sum(r.path.lower().endswith("/directoryaudits") for r in emulator.graph_requests("GET", tenant))


def printable(*texts: str) -> None:
    """Each text can be written as UTF-8 (a lone surrogate cannot) and has no noncharacter."""
    for text in texts:
        text.encode("utf-8")
        assert not {"\ufffe", "\uffff"} & set(text)


def grant_audit(tenant: Tenant, stack_or_config: StackFile | dict[str, str]) -> None:
    config = stack_or_config.config if isinstance(stack_or_config, StackFile) else stack_or_config
    tenant.apps[config["azuread:clientId"]].roles.add(AUDIT_ROLE)


@pytest.mark.parametrize("case", list(SHAPES))
def test_drift_and_history_end_as_without_the_permission(
    case: str,
    drifted: StackFile,
    emulator: Emulator,
    tenant: Tenant,
    http: httpx.Client,
    sleeps: Sleeps,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shape = SHAPES[case]
    monkeypatch.setattr(audit, "BUDGET_SECONDS", shape.budget)
    last = StackOutputs(tenant.id, False, liveValue=False)

    def run(history: int) -> tuple[Outcome, int]:
        before = audit_reads(emulator, tenant)
        check = DriftCheck(http, DiscoveryCache(), lambda _: last, lambda _: {}, history=history)
        outcome = check(drifted, Outcome(drifted.name, tenant.id))  # raises nothing
        return outcome, audit_reads(emulator, tenant) - before

    unpermitted, _ = run(0)
    assert str(unpermitted.changed).startswith("who changed it is unknown: grant the app")
    grant_audit(tenant, drifted)
    shape.arm(emulator, tenant)
    for history, column in ((0, DRIFT), (MOST, HISTORY)):
        sleeps.clear()
        outcome, reads = run(history)
        assert (outcome.action, outcome.live, outcome.reason, outcome.error) == (
            UPDATE,
            True,
            unpermitted.reason,
            None,
        )
        assert exit_code("drift", [outcome]) == exit_code("drift", [unpermitted]) == EXIT_CHANGES
        assert str(outcome.changed).startswith(shape.says), outcome.changed
        assert reads == shape.requests  # the history read's answer serves the verdict's note too
        assert sum(sleeps) < shape.budget  # no Retry-After beyond the budget was waited for
        rows = outcome.history or []
        printable(note_text(outcome), json.dumps(outcome.to_json(), ensure_ascii=False), *(str(row["by"]) for row in rows))
        if history:
            assert str(rows[0]["by"]).startswith(shape.says.removeprefix("changed by ").split(" at 20")[0])
        record("attribution faults", case, column, f"{'listed' if history else 'drift found, exit 3'}; {shape.shown()}")


@pytest.mark.parametrize("case", list(SHAPES))
def test_a_drifted_preview_ends_as_without_the_permission(
    case: str,
    configure: Configure,
    configured: dict[str, str],
    emulator: Emulator,
    tenant: Tenant,
    http: httpx.Client,
    sleeps: Sleeps,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shape = SHAPES[case]
    monkeypatch.setattr(audit, "BUDGET_SECONDS", shape.budget)
    configured = {**configured, "bitlocker-policy:consistencyWindowSeconds": "0"}
    outs = up(configure(configured), tenant, False)
    emulator.set_bitlocker(tenant, True, by=ACTOR)
    monkeypatch.setattr(BitlockerKeyAccessProvider, "serving_preview", lambda _self: True)  # as under `pulumi preview`
    # The provider process's Session on the test's HTTP client: retry waits recorded, not taken.
    monkeypatch.setattr(provider_base, "_process_session", lambda sources: Session(sources, http_factory=lambda: http))
    unpermitted = preview(configure(configured), outs, inputs(tenant, False))
    grant_audit(tenant, configured)
    shape.arm(emulator, tenant)
    capsys.readouterr()
    sleeps.clear()
    before = audit_reads(emulator, tenant)
    assert preview(configure(configured), outs, inputs(tenant, False)) == unpermitted
    said = capsys.readouterr().err
    assert (unpermitted[0]["liveValue"], unpermitted[1]) == (True, True)
    assert f"{DRIFT_MARK}true, {shape.says}" in said, said
    assert audit_reads(emulator, tenant) - before == shape.requests
    assert sum(sleeps) < shape.budget
    printable(said)
    record("attribution faults", case, PREVIEW, f"would update; {shape.shown()}")


def test_a_lookup_has_no_more_time_than_the_operation_around_it() -> None:
    """With 2 s left of the operation, the audit log gets 2 s, not BUDGET_SECONDS."""
    from providers.common.deadline import current_deadline, operation_deadline

    budgets = []
    for left in (2.0, 600.0):
        with operation_deadline(left, clock=lambda: 0.0), audit._budget():
            deadline = current_deadline()
            budgets.append(deadline.seconds if deadline else None)
    assert budgets == [2.0, audit.BUDGET_SECONDS]
