"""`fleet consent-status`: whether each app can sign in to each stack's tenant, and which roles its token carries.

One token request per app and tenant (client credentials, the fleet's usual credential from
the stack and the environment), then the token's `roles` claim: the application permissions
consented in that tenant (learn.microsoft.com/entra/identity-platform/access-token-claims-reference,
`roles`). Microsoft calls Graph tokens opaque to clients, so reading them is a best effort: a
token that is no readable JWT says so instead of guessing. Entra's refusals tell the rest apart
(learn.microsoft.com/entra/identity-platform/reference-error-codes): AADSTS700016, the app has no
service principal in the tenant (nobody consented); AADSTS90002, no such tenant.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

import httpx

from fleet.consent import consent_url
from fleet.outcome import EXIT_CHANGES, EXIT_FAILED, EXIT_OK, Outcome
from fleet.stacks import StackFile
from providers.common.errors import AuthenticationError, BitlockerPolicyError
from providers.common.outside_text import one_line
from providers.common.token_claims import token_roles
from providers.config.settings import CLIENT_ID, Sources
from providers.session import Session, new_http_client
from providers.signin.discovery_cache import DiscoveryCache
from providers.signin.tenants import TenantDirectory

__all__ = ["JOBS", "Check", "check", "consent_status", "jobs_of"]

# What each job's app needs (README, "From CI"): the read app reads the policy and, to say who
# changed a tenant, the audit log, which needs AuditLog.Read.All and Directory.Read.All
# (learn.microsoft.com/graph/api/directoryaudit-list, permissions); the write app PATCHes the
# policy (learn.microsoft.com/graph/api/authorizationpolicy-update).
JOBS = {
    "read": ("Policy.Read.All", "AuditLog.Read.All", "Directory.Read.All"),
    "write": ("Policy.ReadWrite.Authorization",),
}
JOBS["both"] = JOBS["read"] + JOBS["write"]

CONSENTED, MISSING_ROLES, NO_SERVICE_PRINCIPAL, UNKNOWN_TENANT, UNREADABLE, FAILED = (
    "consented",
    "missing roles",
    "no service principal",
    "unknown tenant",
    "roles unreadable",
    "sign-in failed",
)
_NOT_CONSENTED = (MISSING_ROLES, NO_SERVICE_PRINCIPAL)


@dataclass
class Check:
    """One app in one stack's tenant: can it sign in, and which of its job's roles its token carries."""

    stack: str
    tenant: str
    job: str
    app: str = ""
    status: str = FAILED
    roles: list[str] = field(default_factory=list)  # of the job's roles, those the token carries
    missing: list[str] = field(default_factory=list)
    consentUrl: str | None = None  # noqa: N815 -- the JSON's key
    error: str | None = None


def jobs_of(client_ids: Sequence[str] | None, job: str | None) -> list[tuple[str, str]]:
    """(client id, job) per app: two --client-id are the read and the write app; one (or the stack's
    own, "") does `job`, both jobs by default."""
    if client_ids and len(client_ids) == 2 and job is None:
        return [(client_ids[0], "read"), (client_ids[1], "write")]
    return [(client_id, job or "both") for client_id in client_ids or [""]]


def check(stack: StackFile, tenant: str, client_id: str, job: str, http: httpx.Client, discovery: DiscoveryCache) -> Check:
    """Sign the app in to the tenant once and read its token's roles; never raises for one stack's trouble."""
    row = Check(stack.name, tenant, job)
    config = {**stack.config, CLIENT_ID.key: client_id} if client_id else stack.config
    try:
        session = Session(Sources(config, os.environ), http_factory=lambda: http, discovery=discovery)
        configuration = session.configuration
        row.app = getattr(configuration.credential, "client_id", "") or client_id
        from providers.signin.tokens import token_source  # msal is loaded only when a token is needed

        directory = TenantDirectory(http, configuration.endpoints.authority_host, discovery)
        token = token_source(configuration.credential, tenant, configuration.endpoints, http, directory).token()
    except AuthenticationError as error:
        row.status = {700016: NO_SERVICE_PRINCIPAL, 90002: UNKNOWN_TENANT}.get(next(iter(error.codes), 0), FAILED)
        row.error = str(error)
    except BitlockerPolicyError as error:
        row.error = str(error)
    else:
        held = token_roles(token)
        needed = JOBS[job]
        if held is None:
            row.status = UNREADABLE
            row.error = "the token is no readable JWT, so its roles cannot be told (Microsoft calls Graph tokens opaque)"
        else:
            row.roles = [role for role in needed if role in held]
            row.missing = [role for role in needed if role not in held]
            row.status = MISSING_ROLES if row.missing else CONSENTED
    if row.status in (*_NOT_CONSENTED, UNREADABLE) and row.app:
        row.consentUrl = consent_url(stack, tenant, row.app)[1]
    return row


def consent_status(
    targets: Sequence[tuple[StackFile, str]],
    unresolved: Sequence[Outcome],
    apps: Sequence[tuple[str, str]],
    discovery: DiscoveryCache,
    json_file: Path | None,
    workers: int,
) -> int:
    """Every app in every stack's tenant: a table on stdout (stderr when the JSON takes stdout), --json;
    exit 0 when every app holds every role, 3 when a consent is missing, 4 when a sign-in failed otherwise."""
    with new_http_client() as http, ThreadPoolExecutor(max_workers=workers, thread_name_prefix="consent") as pool:
        pairs = [(stack, tenant, app, job) for stack, tenant in targets for app, job in apps]
        rows = list(pool.map(lambda pair: check(pair[0], pair[1], pair[2], pair[3], http, discovery), pairs))
    rows += [
        Check(outcome.stack, "", job, app, UNKNOWN_TENANT if _unknown(outcome) else FAILED, error=outcome.error)
        for outcome in unresolved
        for app, job in apps
    ]
    if json_file is not None:
        document = json.dumps({"command": "consent-status", "apps": [asdict(row) for row in rows]}, indent=2) + "\n"
        if str(json_file) == "-":
            sys.stdout.write(document)
        else:
            json_file.write_text(document)
    _table(rows, sys.stderr if str(json_file) == "-" else sys.stdout)
    statuses = {row.status for row in rows}
    if statuses - {CONSENTED, *_NOT_CONSENTED}:
        return EXIT_FAILED
    return EXIT_CHANGES if statuses & set(_NOT_CONSENTED) else EXIT_OK


def _unknown(outcome: Outcome) -> bool:
    return "AADSTS90002" in (outcome.error or "")


def _table(rows: Sequence[Check], out: TextIO) -> None:
    """Stack, tenant, job, app and status in 80 columns, one line each; then a numbered note per row
    that needs one: the missing roles, Entra's refusal, the consent URL (each a whole line)."""
    notes: list[str] = []
    lines = [f"{'stack':<24} {'tenant':<8} {'job':<5} {'app':<8} status"]
    for row in rows:
        said = row.status
        details = [f"missing {', '.join(row.missing)}" if row.missing else "", row.error or "", row.consentUrl or ""]
        if any(details):
            notes.append("; ".join(f"consent: {d}" if d == row.consentUrl else d for d in details if d))
            said += f" [{len(notes)}]"
        lines.append(f"{one_line(row.stack)[:24]:<24} {row.tenant[:8]:<8} {row.job:<5} {row.app[:8]:<8} {said}")
    counts = {status: sum(row.status == status for row in rows) for status in dict.fromkeys(row.status for row in rows)}
    lines.append(f"{len(rows)} apps: " + ", ".join(f"{count} {status}" for status, count in counts.items()))
    lines += [f"[{index}] {one_line(note, limit=10_000)}" for index, note in enumerate(notes, 1)]
    print("\n".join(lines), file=out)
