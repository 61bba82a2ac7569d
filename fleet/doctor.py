"""`fleet doctor`: what the product assumes about a tenant, checked against what Entra ID and Graph answer.

Six checks per tenant (one given with --tenant, or each selected stack's), each ending ok,
problem (with the fix) or not checked (with why):

    sign-in     the configured credential gets a token for the tenant (providers/signin/tokens.py)
    roles       the token's `roles` against each job's needs (NEEDS)
    policy      GET the authorization policy; the field present, null or missing
    audit log   the newest "Update authorization policy" events, every modifiedProperties row as received
    federation  the `iss`/`sub`/`aud` of the CI job's OIDC token against what Entra matched
    clock       this machine's clock against the Date of the token endpoint's answer

Nothing is written. No token, assertion or secret is ever shown: claims are read from them
(providers/common/token_claims.py, without verifying) and only the claims named here are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from fleet.outcome import EXIT_CHANGES, EXIT_OK
from fleet.stacks import StackFile
from providers.common.deadline import operation_deadline
from providers.common.errors import AuthenticationError, BitlockerPolicyError, ConfigurationError
from providers.common.outside_text import one_line
from providers.common.token_claims import token_claims
from providers.common.version import version
from providers.config.credentials import (
    AzureCli,
    AzurePipelinesToken,
    ClientCertificate,
    ClientSecret,
    Credential,
    FederatedToken,
    GitHubActionsToken,
    ManagedIdentity,
    OidcTokenFile,
)
from providers.config.settings import TENANT_ID, USE_OIDC, Sources, value_text
from providers.config.tenant_names import tenant_problem
from providers.configuration import configuration
from providers.graph.audit import AUDIT_PATH, AUDIT_PERMISSION, initiator, ties_the_field
from providers.graph.authorization_policy import BITLOCKER_KEYS, CHANGE_ACTIVITY, POLICY_PATH
from providers.graph.client import GraphClient
from providers.session import new_http_client
from providers.signin.assertions import EXCHANGE_AUDIENCE, assertion
from providers.signin.discovery_cache import DiscoveryCache, default_path
from providers.signin.tenants import TenantDirectory
from providers.signin.tokens import token_source

__all__ = ["CLOCK_SKEW_LIMIT", "JOBS", "NEEDS", "Check", "Report", "examine", "github_subjects", "run"]

OK, PROBLEM, NOT_CHECKED = "ok", "problem", "not checked"
JOBS = ("read", "write")
# The application permissions each job's token must carry, each need met by any of its roles: the read job
# GETs the policy (Policy.Read.All, or Policy.ReadWrite.Authorization: learn.microsoft.com/graph/api/
# authorizationpolicy-get) and the audit log (AuditLog.Read.All and Directory.Read.All: learn.microsoft.com/
# graph/api/directoryaudit-list, "Permissions"); the write job PATCHes the policy (Policy.ReadWrite.Authorization
# and no other: learn.microsoft.com/graph/api/authorizationpolicy-update).
NEEDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "read": (("Policy.Read.All", "Policy.ReadWrite.Authorization"), ("AuditLog.Read.All",), ("Directory.Read.All",)),
    "write": (("Policy.ReadWrite.Authorization",),),
}
# Microsoft's token validators allow 5 minutes of clock skew (Microsoft.IdentityModel.Tokens,
# TokenValidationParameters.DefaultClockSkew: "300 seconds"), and MSAL signs a certificate's
# assertion with this machine's clock (msal/oauth2cli/assertion.py): beyond it, sign-ins fail.
CLOCK_SKEW_LIMIT = 300.0
EVENTS = 5  # the newest audit events shown: enough to see their shape, few enough to read
TOKEN_PATH = "/oauth2/v2.0/token"  # noqa: S105 -- a path, no secret: the v2.0 token endpoint's path under {authority}/{tenant}
# Entra's refusals of a federated token that matches no credential: subject (700213; 70021 before),
# issuer (700211), audience (700212), subject in another case (7002138) (learn.microsoft.com/entra/
# identity-platform/reference-error-codes; Azure/login#515).
FEDERATION_CODES = frozenset({70021, 700211, 700212, 700213, 7002138})
_SHOWN = 200  # at most this many characters of one value from outside
WORKERS = 16  # tenants examined at once, as `fleet drift` reads them: a few requests each, mostly waiting


@dataclass
class Check:
    """One check's verdict: what it saw (`seen`, lines as received) and, for a problem, the fix."""

    check: str
    status: str  # ok | problem | not checked
    summary: str
    seen: list[str] = field(default_factory=list)
    fix: str | None = None


@dataclass
class Report:
    """What the doctor saw in one tenant."""

    tenant: str  # as the stack or --tenant spells it
    stack: str | None = None
    tenantId: str | None = None  # noqa: N815 -- the --json document's key
    credential: str | None = None
    checks: list[Check] = field(default_factory=list)

    @property
    def problems(self) -> int:
        """How many checks found a problem."""
        return sum(check.status == PROBLEM for check in self.checks)


class _EntraDate:
    """A response hook: the Date of the token endpoint's last answer, with this machine's time when it came."""

    def __init__(self, now: Callable[[], datetime]):
        self._now = now
        self.seen: tuple[str, datetime] | None = None

    def __call__(self, response: httpx.Response) -> None:
        date = response.headers.get("Date")
        if date and response.request.url.path.endswith(TOKEN_PATH):
            self.seen = (date, self._now())


def examine(
    tenant: str | None,
    sources: Callable[[], Sources],
    jobs: tuple[str, ...] = (),
    *,
    stack: str | None = None,
    discovery: DiscoveryCache | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Report:
    """Every check against one tenant, with the settings `sources` gives (called here: a stack's secrets need the CLI)."""
    report = Report(tenant or "", stack)
    unchecked = ("roles", "policy", "audit log", "federation", "clock")
    try:
        settings = configuration(sources())
    except BitlockerPolicyError as error:
        report.checks = [Check("sign-in", PROBLEM, "the settings cannot be used", fix=str(error))]
        report.checks += [Check(name, NOT_CHECKED, "no settings to check it with (see sign-in)") for name in unchecked]
        return report
    credential = settings.credential
    report.credential = _credential_kind(credential)
    date = _EntraDate(now)
    with new_http_client() as http, operation_deadline(settings.deadline_seconds):
        http.event_hooks = {"request": [], "response": [date]}
        directory = TenantDirectory(http, settings.endpoints.authority_host, discovery)
        token, refused = None, None
        try:
            problem = tenant_problem(tenant)
            if problem or tenant is None:
                raise ConfigurationError(problem or "")
            report.tenantId = directory.guid(tenant)
            source = token_source(credential, report.tenantId, settings.endpoints, http, directory)
            token = source.token()
        except BitlockerPolicyError as error:
            refused = error
            report.checks.append(Check("sign-in", PROBLEM, f"no token for tenant {one_line(report.tenant)}", fix=str(error)))
        if token is None:
            why = "no token (see sign-in)"
            report.checks += [Check(name, NOT_CHECKED, why) for name in ("roles", "policy", "audit log")]
        else:
            claims = token_claims(token)
            who = one_line(str(claims.get("appid") or claims.get("azp") or "an unnamed client"), 80)
            summary = f"{who} signed in to tenant {report.tenantId} with {report.credential}"
            report.checks.append(Check("sign-in", OK, summary, [f"the token's tid: {_shown(claims.get('tid'))}"]))
            graph = GraphClient(http, settings.endpoints.graph_endpoint, source.token)
            report.checks += [_roles(claims, jobs), _policy(graph), _audit_log(graph)]
        report.checks += [_federation(credential, http, refused), _clock(date.seen)]
    return report


def _credential_kind(credential: Credential) -> str:
    """How the report names the configured credential (never its value)."""
    if isinstance(credential, FederatedToken):
        source = credential.source
        origin = (
            "GitHub Actions"
            if isinstance(source, GitHubActionsToken)
            else "Azure Pipelines"
            if isinstance(source, AzurePipelinesToken)
            else f"the file {source.path}"
            if isinstance(source, OidcTokenFile)
            else "a given token"
        )
        return f"workload identity federation (an OIDC token from {one_line(origin, 120)})"
    kinds: dict[type, str] = {
        ClientSecret: "a client secret",
        ClientCertificate: "a client certificate",
        ManagedIdentity: "a managed identity",
        AzureCli: "the Azure CLI's sign-in",
    }
    return kinds[type(credential)]


def _roles(claims: Mapping[str, Any], jobs: tuple[str, ...]) -> Check:
    """The token's application roles against what each job needs (best effort: Graph tokens are opaque)."""
    roles = claims.get("roles")
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        scopes = claims.get("scp")
        delegated = f" but delegated scopes ({_shown(scopes)}): a user's sign-in" if isinstance(scopes, str) else ""
        why = f"the token carries no application roles{delegated}; Microsoft calls Graph tokens opaque"
        return Check("roles", NOT_CHECKED, why)
    held = set(roles)
    lacking = {job: [need[0] for need in NEEDS[job] if not held & set(need)] for job in JOBS}
    seen = [f"roles: {', '.join(sorted(held)) or 'none'}"]
    seen += [f"{job} job: " + (f"lacks {', '.join(lacking[job])}" if lacking[job] else "has all it needs") for job in JOBS]
    if not jobs:  # no job named: one app per job is the design, so the token must serve either
        served = [job for job in JOBS if not lacking[job]]
        if served:
            return Check(
                "roles", OK, f"the token carries every role the {' and '.join(served)} job needs (its roles claim)", seen
            )
        jobs = ("read",)  # the least a working app needs
    missing = sorted({role for job in jobs for role in lacking[job]})
    asked = " and ".join(jobs)
    if missing:
        permissions = "permissions" if len(missing) > 1 else "permission"
        fix = f"grant the app the Microsoft Graph application {permissions} {', '.join(missing)} with admin consent"
        return Check("roles", PROBLEM, f"the token lacks roles the {asked} job needs", seen, fix)
    return Check("roles", OK, f"the token carries every role the {asked} job needs (its roles claim)", seen)


def _policy(graph: GraphClient) -> Check:
    """The authorization policy readable, and the field: present, null or missing."""
    where = BITLOCKER_KEYS.path
    policy = _get(graph, "policy", POLICY_PATH, None, NEEDS["read"][0][0])
    if isinstance(policy, Check):
        return policy
    permissions = policy.get("defaultUserRolePermissions") if isinstance(policy, dict) else None
    if not isinstance(permissions, dict):
        unreadable = "the policy has no defaultUserRolePermissions object"
        return Check("policy", PROBLEM, unreadable, [_shown(policy)], fix=_UNKNOWN_FIX)
    seen = [f"defaultUserRolePermissions: {_shown(permissions)}"]
    if BITLOCKER_KEYS.name not in permissions:
        return Check("policy", PROBLEM, f"{where} is missing", seen, _UNKNOWN_FIX)
    value = permissions[BITLOCKER_KEYS.name]
    if value is None:
        return Check("policy", OK, f"{where} is null (allowed: up sets the declared value, destroy leaves it)", seen)
    if isinstance(value, bool):
        return Check("policy", OK, f"{where} is {value_text(value)}", seen)
    return Check("policy", PROBLEM, f"{where} is neither true, false nor null", seen, _UNKNOWN_FIX)


_UNKNOWN_FIX = (
    "none from here: the product reads the value as unknown and writes nothing; this cloud or tenant may not "
    "offer the setting yet (attach this report, --json, to a bug report)"
)


def _audit_log(graph: GraphClient) -> Check:
    """The newest policy-change events, each modifiedProperties row as received (name, oldValue, newValue)."""
    params = {"$filter": f"activityDisplayName eq '{CHANGE_ACTIVITY}'", "$orderby": "activityDateTime desc", "$top": str(EVENTS)}
    page = _get(graph, "audit log", AUDIT_PATH, params, f"{AUDIT_PERMISSION} (with Directory.Read.All)")
    if isinstance(page, Check):
        return page
    events = page.get("value") if isinstance(page, dict) else None
    if not isinstance(events, list):
        return Check("audit log", PROBLEM, "the answer is no page of events", [_shown(page)], _UNKNOWN_FIX)
    if not events:
        return Check(
            "audit log",
            OK,
            f"readable, with no '{CHANGE_ACTIVITY}' event (it keeps 7 days, 30 with P1/P2): change the setting once "
            "(portal or up) and run the doctor again a few minutes later to see its rows",
        )
    seen: list[str] = []
    for event in events[:EVENTS]:
        seen += _event(event)
    tied = sum(ties_the_field(event) for event in events[:EVENTS])
    summary = (
        f"readable: the newest {len(events)} '{CHANGE_ACTIVITY}' events, {tied} of them tied to "
        f"{BITLOCKER_KEYS.name} as drift and history read them"
    )
    return Check("audit log", OK, summary, seen)


def _get(graph: GraphClient, check: str, path: str, params: dict[str, str] | None, permission: str) -> Any:
    """GET `path`'s JSON, or the problem it met, as the check `check` reports it."""
    try:
        return graph.get_json(path, params, permission)
    except BitlockerPolicyError as error:
        return Check(check, PROBLEM, f"GET {path} failed", fix=str(error))
    except RecursionError:  # json's parser, on an answer nested thousands deep
        return Check(check, PROBLEM, f"GET {path} answered JSON nested too deeply to read", fix=_UNKNOWN_FIX)


def _event(event: Any) -> list[str]:
    """An event's time and initiator, then one line per modifiedProperties row (`  NAME: OLD -> NEW`, values as JSON)."""
    if not isinstance(event, dict):
        return [f"an event that is no JSON object: {_shown(event)}"]
    by, _ours = initiator(event.get("initiatedBy"))  # as drift and history name whoever changed it
    lines = [f"{_shown(event.get('activityDateTime'))} by {by}"]
    targets = event.get("targetResources")
    if not isinstance(targets, list):
        lines.append(f"  targetResources: {_shown(targets)}")
    for target in targets if isinstance(targets, list) else []:
        rows = target.get("modifiedProperties") if isinstance(target, dict) else None
        if not isinstance(rows, list):
            lines.append(f"  a target whose modifiedProperties is {_shown(rows)}")
            continue
        for row in rows:
            if not isinstance(row, dict):
                lines.append(f"  a row that is no JSON object: {_shown(row)}")
                continue
            name = row.get("displayName")
            label = one_line(name, 120) if isinstance(name, str) else _shown(name)
            lines.append(f"  {label}: {_shown(row.get('oldValue'))} -> {_shown(row.get('newValue'))}")
    return lines


def _federation(credential: Credential, http: httpx.Client, refused: BitlockerPolicyError | None) -> Check:
    """The CI job's OIDC token's iss/sub/aud (claims read, token never shown) against what Entra matched."""
    if not isinstance(credential, FederatedToken):
        return Check("federation", NOT_CHECKED, f"the credential is {_credential_kind(credential)}, not {USE_OIDC.key}")
    try:
        claims = token_claims(assertion(credential.source, http)())
    except BitlockerPolicyError as error:
        return Check("federation", PROBLEM, "no OIDC token to look at", fix=str(error))
    if not claims:
        return Check("federation", PROBLEM, "the OIDC token is no JWT", fix="check where the OIDC token comes from")
    issuer, subject, audience = (_shown(claims.get(name)) for name in ("iss", "sub", "aud"))
    seen = [f"iss {issuer}", f"sub {subject}", f"aud {audience}"]
    forms = github_subjects(claims)
    if forms:
        seen.append(f"GitHub's two forms of this subject: {forms[0]} (by name) and {forms[1]} (immutable)")
    register = (
        f"register on app {credential.client_id} a federated credential with issuer {issuer}, subject {subject} "
        f"(exactly, case included) and audience {EXCHANGE_AUDIENCE}"
    )
    if forms:
        # Repositories created, renamed or transferred since 2026-07-15 get the immutable form
        # (learn.microsoft.com/entra/workload-id/workload-identities-github-immutable-subjects;
        # docs.github.com/actions/reference/security/oidc, "Immutable subject claims").
        other = forms[1] if claims.get("sub") == forms[0] else forms[0]
        register += f"; the same job under GitHub's other form would present {other}"
    codes = set(refused.codes) if isinstance(refused, AuthenticationError) else set()
    if codes & FEDERATION_CODES:
        shown = ", ".join(f"AADSTS{code}" for code in sorted(codes & FEDERATION_CODES))
        return Check("federation", PROBLEM, f"no federated credential of the app matches this token ({shown})", seen, register)
    if refused is None:
        return Check("federation", OK, "Entra matched this token's issuer, subject and audience", seen)
    return Check("federation", NOT_CHECKED, "sign-in failed for another reason (see sign-in)", seen)


def github_subjects(claims: Mapping[str, Any]) -> tuple[str, str] | None:
    """Both forms of a GitHub token's subject: by name `repo:ORG/REPO:…` and immutable `repo:ORG@ID/REPO@ID:…`,
    from its `sub` and its `repository_owner_id` and `repository_id` claims (docs.github.com/actions/reference/
    security/oidc); None for a token that is not GitHub's or whose subject is customized without the repository."""
    subject, ids = claims.get("sub"), (claims.get("repository_owner_id"), claims.get("repository_id"))
    matched = _GITHUB_SUBJECT.fullmatch(subject) if isinstance(subject, str) else None
    if matched is None or not all(isinstance(value, str | int) and str(value).isdigit() for value in ids):
        return None
    owner, repo, context = matched["owner"], matched["repo"], matched["context"]
    return f"repo:{owner}/{repo}:{context}", f"repo:{owner}@{ids[0]}/{repo}@{ids[1]}:{context}"


_GITHUB_SUBJECT = re.compile(r"repo:(?P<owner>[^/@:]+)(?:@\d+)?/(?P<repo>[^/@:]+)(?:@\d+)?:(?P<context>.+)")


def _clock(seen: tuple[str, datetime] | None) -> Check:
    """This machine's clock against the Date of the token endpoint's answer."""
    if seen is None:
        return Check("clock", NOT_CHECKED, "Entra's token endpoint did not answer (the token came from elsewhere, or none came)")
    date, here = seen
    try:
        there = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return Check("clock", NOT_CHECKED, f"Entra's Date {one_line(date, 80)!r} is no HTTP date")
    skew = (here - (there if there.tzinfo else there.replace(tzinfo=UTC))).total_seconds()
    side = "ahead of" if skew >= 0 else "behind"
    said = f"this machine's clock is {abs(skew):.0f} s {side} Entra's (Date: {one_line(date, 80)})"
    if abs(skew) > CLOCK_SKEW_LIMIT:
        fix = "set this machine's clock right (turn on time sync: `timedatectl set-ntp true`, `w32tm /resync`)"
        return Check("clock", PROBLEM, f"{said}: more than the {CLOCK_SKEW_LIMIT:.0f} s token validation allows", fix=fix)
    return Check("clock", OK, said)


def _shown(value: Any) -> str:
    """A value from outside as JSON on one line (a string keeps its quotes: the encoding is what is shown)."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = f"<{type(value).__name__}>"
    return one_line(text, _SHOWN)


def exit_code(reports: list[Report]) -> int:
    """0 when no check found a problem (a check not run is none), else 3."""
    return EXIT_CHANGES if any(report.problems for report in reports) else EXIT_OK


def text(reports: list[Report]) -> str:
    """The report for a terminal or a CI log: a block per tenant, a line per check, what it saw indented below."""
    lines = []
    for report in reports:
        named = f"stack {one_line(report.stack, 120)}: " if report.stack else ""
        lines.append(f"{named}tenant {one_line(report.tenant, 120)} ({report.tenantId or 'not resolved'})")
        for check in report.checks:
            lines.append(f"  {check.status:<11} {check.check:<10} {check.summary}")
            lines += [f"{'':24}{line}" for line in check.seen]
            lines += [f"{'':24}fix: {check.fix}"] if check.fix else []
    return "\n".join(lines) + "\n"


def document(reports: list[Report], code: int) -> dict[str, Any]:
    """The --json document: every check of every tenant, for a bug report (no token, assertion or secret in it)."""
    return {"command": "doctor", "version": version(), "exitCode": code, "tenants": [asdict(report) for report in reports]}


def run(args: argparse.Namespace, stacks: list[StackFile], secret_config: Callable[[str], Mapping[str, str]]) -> int:
    """`doctor`: the tenant of --tenant with the environment's settings, else each of `stacks` with its own;
    the text on stdout (on stderr when --json is -); the exit code (`exit_code`)."""
    targets: list[tuple[str | None, str | None, Callable[[], Sources]]]
    if args.tenant:
        targets = [(None, args.tenant, lambda: Sources({TENANT_ID.key: args.tenant}, os.environ))]
    else:
        targets = [(stack.name, stack.tenant, _settings(stack, secret_config)) for stack in stacks]
    jobs = {None: (), "both": JOBS}.get(args.job, (args.job,))
    discovery = DiscoveryCache(default_path(), deferred=True)
    try:
        with ThreadPoolExecutor(WORKERS) as pool:
            reports = list(pool.map(lambda t: examine(t[1], t[2], jobs, stack=t[0], discovery=discovery), targets))
    finally:
        discovery.flush()
    code = exit_code(reports)
    to_stdout = str(args.json) == "-"
    print(text(reports), end="", file=sys.stderr if to_stdout else sys.stdout)
    if args.json:
        rendered = json.dumps(document(reports, code), indent=2, ensure_ascii=False) + "\n"
        if to_stdout:
            sys.stdout.write(rendered)
        else:
            args.json.write_text(rendered)
    return code


def _settings(stack: StackFile, secret_config: Callable[[str], Mapping[str, str]]) -> Callable[[], Sources]:
    """A stack's settings as its program and provider get them (StackFile.settings), read when the check runs."""
    return lambda: stack.settings(secret_config)
