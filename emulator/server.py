"""An HTTPS emulator of Entra ID's token endpoint and Microsoft Graph's authorization policy.

As Microsoft documents it: v1.0 GET returns the one policy object with its documented
casing (learn.microsoft.com/graph/api/authorizationpolicy-get); PATCH takes only the
properties to change, names case-insensitive (learn.microsoft.com/graph/traverse-the-graph),
answers 204 (learn.microsoft.com/graph/api/authorizationpolicy-update), and 400 for unknown
properties or wrong types; 401/403 carry OData error bodies and every response has
request-id and client-request-id headers (learn.microsoft.com/graph/errors). Each other
behaviour cites its own source beside the code that models it.
"""

from __future__ import annotations

import json
import secrets
import ssl
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme
from cryptography.hazmat.primitives.asymmetric import rsa

from .audit import AUDIT_ROLE, QueryError
from .entra import EXCHANGE_AUDIENCE, OidcIssuer, authenticate, github_claims
from .gdap import GDAP_ROLES, TopError
from .policy import BITLOCKER, apply_patch
from .state import READ_ROLES, WRITE_ROLE, Directory, Fault, IssuedToken, Recorded, Tenant

# A Graph token's `aud`: the resource, or Graph's app id (learn.microsoft.com, access token claims).
# Graph's audiences: its URI with or without the trailing slash (the Azure CLI's cloud profile
# names the resource "https://graph.microsoft.com/", and its token keeps that `aud`), and its appId.
GRAPH_AUDIENCES = ("https://graph.microsoft.com", "https://graph.microsoft.com/", "00000003-0000-0000-c000-000000000000")
# Azure Resource Manager's resource, the Azure CLI's default scope (management.core.windows.net//.default).
ARM_RESOURCE = "https://management.core.windows.net/"
# Authorities that name no tenant: "common", "organizations", "consumers" (learn.microsoft.com/entra/
# identity-platform/v2-protocols-oidc, "Find your app's OpenID configuration document URI").
TENANTLESS = ("common", "organizations", "consumers")
SYSTEM_IDENTITY_APP_ID = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"  # the system-assigned identity's app id here
POLICY_PATH = "/v1.0/policies/authorizationpolicy"
BETA_POLICY_PATH = "/beta/policies/authorizationpolicy"
AUDIT_PATH = "/v1.0/auditlogs/directoryaudits"
GDAP_PATH = "/v1.0/tenantrelationships/delegatedadmincustomers"


class QuietServer(ThreadingHTTPServer):
    """A threading HTTP server that lets a client go quietly: one that gave up (a deadline, a dropped
    connection) is the test's business, not a traceback on whichever test's stderr runs next."""

    daemon_threads = True

    def serve_forever(self, poll_interval: float = 0.05) -> None:
        """Serve until shutdown(), which then returns within 50 ms, not the standard library's 0.5 s."""
        super().serve_forever(poll_interval)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError, ssl.SSLError)):
            super().handle_error(request, client_address)


class Emulator:
    """Entra ID + Graph on https://127.0.0.1:PORT with a throwaway CA (trustme)."""

    def __init__(self, port: int = 0, ca_path: str | Path | None = None):
        self.directory = Directory()
        self.faults = self.directory.faults
        self._ca = trustme.CA()
        server_cert = self._ca.issue_cert("127.0.0.1", "localhost")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_cert.configure_cert(context)
        self._tmp = tempfile.TemporaryDirectory(prefix="entra-emulator-")
        self.ca_path = Path(ca_path) if ca_path else Path(self._tmp.name) / "ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_path))
        self._oidc_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.identity_header = secrets.token_urlsafe(16)
        self._minted: list[str] = []  # every OIDC token minted, for the leak checks
        self._ci_request_tokens: dict[str, str] = {}  # CI request token -> subject
        self._service_connections: dict[str, str] = {}  # Azure Pipelines service connection id -> subject
        self._server = QuietServer(("127.0.0.1", port), _Handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._server.emulator = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The base URL for both the authority host and the Graph endpoint."""
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    @property
    def issuer(self) -> OidcIssuer:
        """The issuer of the OIDC tokens this emulator mints (as GitHub Actions would)."""
        return OidcIssuer(f"{self.url}/_oidc", self._oidc_key)

    def start(self) -> Emulator:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="entra-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and remove the CA file."""
        self._server.shutdown()
        self._server.server_close()
        self._tmp.cleanup()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- tenants and credentials -----------------------------------------------------------
    def add_tenant(self, bitlocker: bool = True, domain: str | None = None, tenant_id: str | None = None) -> Tenant:
        """A tenant whose device owners may (True) or may not (False) read their keys."""
        return self.directory.add_tenant(bitlocker, domain, tenant_id)

    def set_bitlocker(self, tenant: Tenant, value: bool | None, by: str | None = None) -> None:
        """Change the live value (None: null) behind the product's back, as an admin in the portal would
        (the audit log records it by `by`, a UPN; default the tenant's admin)."""
        self.directory.set_bitlocker(tenant, value, by)

    def read_key(self, tenant: Tenant, by: str, device: str = "LAPTOP-01") -> str:
        """A user reads a device's BitLocker recovery key; the audit log records it. The key's id."""
        return self.directory.read_key(tenant, by, device)

    def remove_bitlocker_key(self, tenant: Tenant) -> None:
        """Answer GETs without the BitLocker key, as one captured live response did."""
        with self.directory.lock:
            tenant.policy["defaultUserRolePermissions"].pop(BITLOCKER, None)

    def oidc_token(self, subject: str, audience: str = EXCHANGE_AUDIENCE) -> str:
        """A signed OIDC token from this emulator's issuer (a CI system's ID token; GitHub's repository claims
        beside a subject of GitHub's form)."""
        token = self.issuer.token(subject, audience, extra=github_claims(subject))
        self._minted.append(token)
        return token

    def credentials(self) -> dict[str, str]:
        """Every credential this emulator issued or holds, each with what it is: what no output may show."""
        with self.directory.lock:
            found = dict.fromkeys(self.directory.tokens, "an access token it issued")
            found |= {
                secret: "a client secret"
                for tenant in self.directory.tenants.values()
                for app in tenant.apps.values()
                for secret in app.secrets
            }
        found |= dict.fromkeys(self._minted, "an OIDC token it minted")
        found |= dict.fromkeys(self._ci_request_tokens, "a CI request token")
        found[self.identity_header] = "the managed identity header"
        return found

    def github_actions(self, subject: str) -> dict[str, str]:
        """The environment a GitHub Actions job with `id-token: write` would have.

        The runner's request URL is an Azure DevOps-style `…/_apis/…/idtoken?api-version=2.0`
        that clients extend with `&audience=…` (actions/toolkit, packages/core/src/oidc-utils.ts).
        """
        request_token = secrets.token_urlsafe(24)
        self._ci_request_tokens[request_token] = subject
        return {
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"{self.url}/_github/_apis/distributedtask/idtoken?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": request_token,
        }

    def azure_pipelines(self, subject: str, service_connection_id: str) -> dict[str, str]:
        """The environment of an Azure Pipelines step that maps SYSTEM_ACCESSTOKEN, for one service connection."""
        request_token = secrets.token_urlsafe(24)
        self._ci_request_tokens[request_token] = subject
        self._service_connections[service_connection_id] = subject
        return {
            "SYSTEM_OIDCREQUESTURI": f"{self.url}/_ado/org/_apis/distributedtask/hubs/build/plans/plan/jobs/job/oidctoken",
            "SYSTEM_ACCESSTOKEN": request_token,
        }

    def imds_env(self) -> dict[str, str]:
        """The environment that points MSAL's VM path at this emulator's IMDS (msal/managed_identity.py)."""
        return {"AZURE_POD_IDENTITY_AUTHORITY_HOST": self.url}

    def arc_env(self) -> dict[str, str]:
        """The environment of an Azure Arc-enabled server (MSAL detects Arc by these two variables)."""
        return {"IDENTITY_ENDPOINT": f"{self.url}/arc/token", "IMDS_ENDPOINT": self.url}

    def access_token(self, tenant: Tenant, roles: Iterable[str] = (WRITE_ROLE,), app_id: str | None = None) -> str:
        """An access token for Graph in `tenant`, as the Azure CLI would hold after `az login`."""
        return self.directory.issue(tenant, roles, app_id or str(uuid.uuid4()), GRAPH_AUDIENCES[0])

    def add_managed_identity(self, home: Tenant, roles: Iterable[str] = (WRITE_ROLE,), client_id: str = "") -> None:
        """This machine's managed identity ("" = system-assigned, else user-assigned), living in `home`."""
        with self.directory.lock:
            self.directory.managed_identities[client_id] = (home.id, set(roles))

    def managed_identity_env(self) -> dict[str, str]:
        """The environment an Azure App Service with a managed identity would have."""
        return {"IDENTITY_ENDPOINT": f"{self.url}/msi/token", "IDENTITY_HEADER": self.identity_header}

    # -- what happened -------------------------------------------------------------------------
    def graph_requests(self, method: str | None = None, tenant: Tenant | None = None) -> list[Recorded]:
        """Graph requests received, optionally only one method or tenant."""
        return self.directory.recorded("graph", method, tenant.id if tenant else None)

    def token_requests(self, tenant: Tenant | None = None) -> list[Recorded]:
        """Token requests received (client credentials and managed identity, IMDS included)."""
        return [
            r
            for r in self.directory.requests
            if r.kind in ("token", "msi", "imds") and (tenant is None or r.tenant_id == tenant.id)
        ]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "entra-emulator"
    # Answer at once: with Nagle's algorithm a keep-alive response waits ~40 ms for the
    # client's delayed ACK, which inflated every timing taken on the emulator.
    disable_nagle_algorithm = True

    @property
    def emulator(self) -> Emulator:
        return self.server.emulator  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet: tests read the request log instead."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    # -- plumbing -----------------------------------------------------------------------------
    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        self._query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = parts.path.rstrip("/")
        lower = path.lower()
        # Set per request: a handler lives as long as its keep-alive connection.
        self._ids = {
            "request-id": str(uuid.uuid4()),
            "client-request-id": self.headers.get("client-request-id") or str(uuid.uuid4()),
        }
        self._mangled: Callable[[bytes], bytes] | None = None
        self._record = Recorded("other", self.command, path, {k.lower(): v for k, v in self.headers.items()}, self._body)
        self.emulator.directory.record(self._record)
        segments = path.strip("/").split("/")
        if self.emulator.faults.latency and not lower.startswith("/_emulator/"):
            time.sleep(self.emulator.faults.latency)  # a network round trip away, for every endpoint
        endpoint = self._entra_endpoint(lower, segments)
        tenant = self.emulator.directory.tenant(segments[0]) if endpoint else None
        if endpoint and self._injected(endpoint, tenant.id if tenant else None):
            return
        if lower in (POLICY_PATH, BETA_POLICY_PATH):
            self._record.kind = "graph"
            self._graph(beta=lower == BETA_POLICY_PATH)
        elif lower == AUDIT_PATH and self.command == "GET":
            self._record.kind = "graph"
            self._audit(path)
        elif lower == GDAP_PATH and self.command == "GET":
            self._record.kind = "graph"
            self._gdap(path)
        elif lower.endswith("/oauth2/v2.0/token") and len(segments) == 4 and self.command == "POST":
            self._record.kind = "token"
            self._token(segments[0])
        elif lower.endswith("/v2.0/.well-known/openid-configuration") and len(segments) == 4:
            self._record.kind = "discovery"
            self._discovery(segments[0])
        elif lower == "/msi/token":
            self._record.kind = "msi"
            self._managed_identity()
        elif lower == "/metadata/identity/oauth2/token":
            self._record.kind = "imds"
            self._imds()
        elif lower == "/arc/token":
            self._record.kind = "msi"
            self._arc_challenge()
        elif lower.startswith("/_github/") and lower.endswith("/idtoken"):
            self._record.kind = "github"
            self._github()
        elif lower.startswith("/_ado/") and lower.endswith("/oidctoken") and self.command == "POST":
            self._record.kind = "pipelines"
            self._azure_pipelines()
        elif lower.startswith("/_emulator/"):
            self._record.kind = "control"
            self._control(segments[1:])
        else:
            self._graph_error(404, "Request_ResourceNotFound", f"Resource not found for the segment '{segments[-1]}'.")

    def _entra_endpoint(self, lower: str, segments: list[str]) -> str | None:
        """Which Entra endpoint a path is, for fault injection."""
        if lower.endswith("/oauth2/v2.0/token") and len(segments) == 4:
            return "token"
        if lower.endswith("/v2.0/.well-known/openid-configuration") and len(segments) == 4:
            return "discovery"
        return {"/msi/token": "msi", "/metadata/identity/oauth2/token": "imds"}.get(lower)

    def _injected(self, endpoint: str, tenant_id: str | None, answered_as: str | None = None) -> bool:
        """Answer with a fault queued for this endpoint (for this tenant, or any); True when answered.

        `answered_as`: the kind of endpoint the answer comes from (a Graph endpoint's own faults, audit
        or gdap, answer as Graph does); the endpoint itself by default."""
        fault = self.emulator.faults.take(self.command, endpoint, tenant_id)
        if fault is None:
            return False
        if fault.kind == "mangle":  # answered as usual, then mangled on the way out (see _send)
            self._mangled = fault.mangled
            return False
        self._record.kind = answered_as or endpoint
        self._record.tenant_id = tenant_id
        self._answer_fault(fault, answered_as or endpoint)
        return True

    def _answer_fault(self, fault: Fault, endpoint: str) -> None:
        extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
        if fault.kind == "drop":
            self.close_connection = True
            self.connection.close()
        elif fault.kind == "garbage":
            self._send_text(200, "<html><body>Sign in to the proxy</body></html>")
        elif fault.kind == "slow":
            self._send_slowly(fault.seconds)
        elif fault.kind == "answer" and isinstance(fault.body, str):
            self._send_text(fault.status, fault.body, extra, "text/plain")
        elif fault.kind == "answer":
            self._send(fault.status, fault.body, extra)
        elif endpoint == "graph":
            code = {429: "TooManyRequests", 503: "serviceNotAvailable", 504: "UnknownError"}.get(fault.status, "UnknownError")
            self._graph_error(fault.status, code, "Injected by the emulator.", extra)
        elif fault.status == 429:
            # Entra's throttling answer is plain text, not an OAuth error: "StatusCode: 429,
            # ResponseBody: Too Many Requests, Headers: Retry-After: 60"
            # (AzureAD/microsoft-authentication-library-for-dotnet#2855).
            self._send_text(429, "Too Many Requests", extra, "text/plain")
        else:
            # Entra's transient failure (learn.microsoft.com, error codes: AADSTS90033 "A transient
            # error has occurred. Try again."); MSAL raises MsalServiceError for any status >= 500.
            self._aad_error(fault.status, "temporarily_unavailable", 90033, "A transient error has occurred. Try again.", extra)

    def _send_slowly(self, seconds: float) -> None:
        """200 with headers at once and a body that trickles in over `seconds`, byte by byte."""
        body = json.dumps({"error": "slow"}).encode()
        self._record.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for byte in body:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(seconds / len(body))

    def _send_text(self, status: int, text: str, headers: dict[str, str] | None = None, content_type: str = "text/html") -> None:
        self._record.status = status
        body = text.encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send(
        self, status: int, payload: Any = None, headers: dict[str, str] | None = None, content_type: str = "application/json"
    ) -> None:
        self._record.status = status
        self._record.request_id = (headers or {}).get("request-id")
        body = b"" if payload is None else json.dumps(payload).encode()
        if self._mangled is not None:
            body = self._mangled(body)
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if payload is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    # -- Graph --------------------------------------------------------------------------------------
    def _graph_headers(self) -> dict[str, str]:
        return self._ids

    def _graph_error(self, status: int, code: str, message: str, extra: dict[str, str] | None = None) -> None:
        ids = self._graph_headers()
        inner = {
            "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "request-id": ids["request-id"],
            "client-request-id": ids["client-request-id"],
        }
        self._send(status, {"error": {"code": code, "message": message, "innerError": inner}}, {**ids, **(extra or {})})

    def _graph_caller(self) -> tuple[IssuedToken, Tenant, Fault | None] | None:
        """The token's grant, its tenant and the fault to apply; None when the request was answered already."""
        emulator = self.emulator
        bearer = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        token = emulator.directory.validate(bearer, (emulator.url, *GRAPH_AUDIENCES))
        if token is None:
            message = "Access token is empty." if not self.headers.get("Authorization") else "Access token validation failure."
            self._graph_error(401, "InvalidAuthenticationToken", message)
            return None
        # Graph acts in the tenant the token was issued by: its `tid`, whatever the caller meant.
        tenant = emulator.directory.tenants[token.tenant_id]
        self._record.tenant_id = tenant.id
        fault = emulator.faults.take(self.command, "graph", tenant.id)
        if fault and fault.kind != "applied":
            self._answer_fault(fault, "graph")
            return None
        return token, tenant, fault

    def _audit(self, path: str) -> None:
        """GET /v1.0/auditLogs/directoryAudits (emulator/audit.py)."""
        caller = self._graph_caller()
        if caller is None:
            return
        token, tenant, _ = caller
        if AUDIT_ROLE not in token.roles:
            message = f"Calling principal does not have required MSGraph permissions {AUDIT_ROLE}"
            self._graph_error(403, "Authentication_MSGraphPermissionMissing", message)
            return
        self._graph_page(
            "audit",
            tenant,
            lambda: tenant.audit.query(self._query, datetime.now(UTC), f"{self.emulator.url}{path}"),
            "application/json;odata.metadata=minimal;odata.streaming=true;charset=utf-8",
        )

    def _gdap(self, path: str) -> None:
        """GET /v1.0/tenantRelationships/delegatedAdminCustomers (emulator/gdap.py)."""
        caller = self._graph_caller()
        if caller is None:
            return
        token, tenant, _ = caller
        if not token.roles & GDAP_ROLES:
            self._graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
            return
        self._graph_page(
            "gdap",
            tenant,
            lambda: tenant.gdap.page(self._query, f"{self.emulator.url}{path}"),
            "application/json;odata.metadata=minimal;charset=utf-8",
        )

    def _graph_page(self, endpoint: str, tenant: Tenant, read: Callable[[], Any], media_type: str) -> None:
        """Answer a Graph list request the caller may make: a fault queued for `endpoint`, else the page `read`
        gives, or 400 BadRequest for a query Graph refuses."""
        if self._injected(endpoint, tenant.id, answered_as="graph"):
            return
        try:
            with self.emulator.directory.lock:
                page = read()
        except (QueryError, TopError) as error:
            self._graph_error(400, "BadRequest", str(error))
            return
        self._send(200, page, self._graph_headers(), media_type)

    def _graph(self, beta: bool) -> None:
        caller = self._graph_caller()
        if caller is None:
            return
        token, tenant, fault = caller
        emulator = self.emulator
        if self.command == "GET":
            if not token.roles & READ_ROLES:
                self._graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
                return
            policy = emulator.directory.policy_view(tenant)
            if beta:
                payload = {
                    "@odata.context": "https://graph.microsoft.com/beta/$metadata#policies/authorizationPolicy",
                    "value": [policy],
                }
            else:
                payload = {
                    "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#policies/authorizationPolicy/$entity",
                    **policy,
                }
            self._send(
                200,
                payload,
                self._graph_headers(),
                "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8",
            )
        elif self.command == "PATCH":
            if WRITE_ROLE not in token.roles:
                self._graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
                return
            self._patch(tenant, fault, token.app_id)
        else:
            self._graph_error(405, "Request_BadRequest", "Method not allowed.")

    def _patch(self, tenant: Tenant, fault: Fault | None, app_id: str) -> None:
        try:
            changes = json.loads(self._body or b"null")
        except ValueError:
            self._graph_error(400, "BadRequest", "Unable to read JSON request payload.")
            return
        if not isinstance(changes, dict):
            self._graph_error(400, "BadRequest", "Unable to read JSON request payload.")
            return
        with self.emulator.directory.lock:
            updated = json.loads(json.dumps(tenant.policy))
            problem = apply_patch(updated, changes)
            if problem:
                self._graph_error(400, "Request_BadRequest", problem)
                return
            if self.emulator.faults.stale_reads_ms:
                tenant.stale_snapshot = tenant.policy
                tenant.stale_until = time.time() + self.emulator.faults.stale_reads_ms / 1000
            old, tenant.policy = tenant.bitlocker, updated
            if tenant.bitlocker != old:
                self.emulator.directory.record_app_change(tenant, app_id, old, tenant.bitlocker)
        if self.emulator.faults.after_write is not None:
            self.emulator.faults.after_write()  # e.g. a test killing the CLI once the write has landed
        if fault is None:
            self._send(204, None, self._graph_headers())  # documented: 204 No Content
        elif fault.status == 0:  # written, then the connection drops before any answer
            self.close_connection = True
            self.connection.close()
        elif fault.status < 300:
            self._send(fault.status, {"id": "authorizationPolicy"}, self._graph_headers())
        elif fault.status < 400:
            self._send(fault.status, None, {**self._graph_headers(), "Location": f"{self.emulator.url}/moved"})
        else:
            extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            self._graph_error(fault.status, "UnknownError", "Injected by the emulator after the write.", extra)

    # -- Entra ID -------------------------------------------------------------------------------------
    def _aad_error(self, status: int, error: str, code: int, text: str, headers: dict[str, str] | None = None) -> None:
        correlation = self.headers.get("client-request-id") or str(uuid.uuid4())
        trace = str(uuid.uuid4())
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        self._send(
            status,
            {
                "error": error,
                "error_description": f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {now}",
                "error_codes": [code],
                "timestamp": now,
                "trace_id": trace,
                "correlation_id": correlation,
                "error_uri": f"{self.emulator.url}/error?code={code}",
            },
            headers,
        )

    def _discovery(self, tenant_ref: str) -> None:
        """The tenant's OpenID configuration; the tenant-less authorities' documents carry `{tenantid}`
        in their issuer, to be filled from each token (v2-protocols-oidc, "Sample response")."""
        tenant = self.emulator.directory.tenant(tenant_ref)
        if tenant is None and tenant_ref.lower() not in TENANTLESS:
            self._aad_error(400, "invalid_tenant", 90002, f"Tenant '{tenant_ref}' not found.")
            return
        segment = tenant.id if tenant else tenant_ref.lower()
        self._record.tenant_id = tenant.id if tenant else None
        base = f"{self.emulator.url}/{segment}"
        self._send(
            200,
            {
                "issuer": f"{self.emulator.url}/{tenant.id if tenant else '{tenantid}'}/v2.0",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            },
        )

    def _token(self, tenant_ref: str) -> None:
        form = {k: v[0] for k, v in parse_qs(self._body.decode()).items()}
        tenant = self.emulator.directory.tenant(tenant_ref)
        if tenant is None and tenant_ref.lower() in TENANTLESS:
            # An app-only token must come from a tenant: "Tenant-identifying information was not found in
            # either the request or implied by any provided credentials" (learn.microsoft.com/entra/
            # identity-platform/reference-error-codes, AADSTS50059).
            self._aad_error(
                400,
                "invalid_request",
                50059,
                "No tenant-identifying information found in either the request or implied by any provided credentials.",
            )
            return
        if tenant is None:
            self._aad_error(400, "invalid_request", 90002, f"Tenant '{tenant_ref}' not found.")
            return
        self._record.tenant_id = tenant.id
        if form.get("grant_type") != "client_credentials":
            self._aad_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
            return
        app = tenant.apps.get(form.get("client_id", ""))
        if app is None:
            self._aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id')}' was not found in the directory '{tenant.id}'.",
            )
            return
        scope = form.get("scope", "")
        # RESOURCE/.default; a resource URI that ends in a slash keeps it, so its scope has two
        # ("https://graph.microsoft.com//.default"; learn.microsoft.com/entra/identity-platform/scopes-oidc,
        # "Trailing slash and .default"), and the token's `aud` is the resource as asked for.
        audience = scope.removesuffix("/.default")
        known = (self.emulator.url, f"{self.emulator.url}/", *GRAPH_AUDIENCES[:2], ARM_RESOURCE)
        if not scope.endswith("/.default") or audience not in known:
            self._aad_error(400, "invalid_scope", 1002012, f"The provided value for scope {scope} is not valid.")
            return
        refusal = authenticate(app, form, f"{self.emulator.url}/{tenant.id}/oauth2/v2.0/token", self.emulator.issuer)
        if refusal:
            self._aad_error(*refusal)
            return
        token = self.emulator.directory.issue(tenant, app.roles, app.client_id, audience)
        self._send(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token})

    def _managed_identity(self) -> None:
        if self.headers.get("X-IDENTITY-HEADER") != self.emulator.identity_header:
            self._send(401, {"statusCode": 401, "message": "Unauthorized request: missing or wrong X-IDENTITY-HEADER."})
            return
        client_id = self._query.get("client_id", "")
        with self.emulator.directory.lock:
            match = self.emulator.directory.managed_identities.get(client_id)
        if match is None:
            self._send(
                400,
                {
                    "statusCode": 400,
                    "message": "No User Assigned or Delegated Managed Identity found for specified "
                    "ClientId/ResourceId/PrincipalId.",
                    "correlationId": str(uuid.uuid4()),
                },
            )
            return
        # The identity's home tenant issues the token: the request names no tenant at all
        # (learn.microsoft.com, App Service managed identity REST reference: resource, api-version, client_id).
        token = self._identity_token(match, client_id, self._query.get("resource", ""))
        self._send(
            200,
            {
                "access_token": token,
                "expires_on": str(int(time.time()) + 3599),
                "resource": self._query.get("resource", ""),
                "token_type": "Bearer",
                "client_id": client_id,
            },
        )

    def _imds(self) -> None:
        """A VM's managed-identity endpoint (IMDS): GET with `Metadata: true`, api-version, resource and an
        optional client_id; the token in OAuth2 form with `expires_in` (learn.microsoft.com/entra/identity/
        managed-identities-azure-resources/how-to-use-vm-token, "Get a token using HTTP", "Error handling").
        Clients reach it here through AZURE_POD_IDENTITY_AUTHORITY_HOST (msal/managed_identity.py)."""
        if self.headers.get("Metadata") != "true":
            self._send(400, {"error": "bad_request_102", "error_description": "Required metadata header not specified"})
            return
        client_id = self._query.get("client_id", "")
        with self.emulator.directory.lock:
            match = self.emulator.directory.managed_identities.get(client_id)
        if match is None:
            self._send(400, {"error": "invalid_request", "error_description": "Identity not found"})
            return
        resource = self._query.get("resource", "")
        token = self._identity_token(match, client_id, resource)
        expires = int(time.time()) + 3599
        self._send(
            200,
            {
                "access_token": token,
                "refresh_token": "",
                "expires_in": "3599",
                "expires_on": str(expires),
                "not_before": str(expires - 3599),
                "resource": resource,
                "token_type": "Bearer",
            },
        )

    def _identity_token(self, match: tuple[str, set[str]], client_id: str, resource: str) -> str:
        """A token from the identity's home tenant: the request names no tenant at all."""
        home, roles = match
        tenant = self.emulator.directory.tenants[home]
        self._record.tenant_id = tenant.id
        return self.emulator.directory.issue(tenant, roles, client_id or SYSTEM_IDENTITY_APP_ID, resource)

    def _arc_challenge(self) -> None:
        """Azure Arc's first answer: 401 naming a key file only a local administrator (or the himds
        group) can read (learn.microsoft.com, azure-arc/servers/managed-identity-authentication)."""
        realm = f"/var/opt/azcmagent/tokens/{uuid.uuid4().hex}.key"
        self._send(401, {"error": "unauthorized"}, {"WWW-Authenticate": f"Basic realm={realm}"})

    def _ci_subject(self) -> str | None:
        """The subject of the CI job whose request token this is (`Authorization: Bearer …`, any case)."""
        scheme, _, request_token = (self.headers.get("Authorization") or "").partition(" ")
        return self.emulator._ci_request_tokens.get(request_token) if scheme.lower() == "bearer" else None

    def _github(self) -> None:
        """GitHub Actions' ID-token endpoint: GET URL?api-version=2.0&audience=AUD, token in `value`.

        The URL is an Azure DevOps-style `_apis` endpoint, which refuses a request without its
        api-version; GitHub's toolkit keeps the runner's query and appends `&audience=`
        (actions/toolkit, packages/core/src/oidc-utils.ts, getIDToken).
        """
        if self._query.get("api-version") != "2.0":
            self._send(400, {"message": "The request must carry the api-version query parameter (2.0)."})
            return
        subject = self._ci_subject()
        if subject is None:
            self._send(401, {"message": "Unauthorized"})
            return
        if not self._injected("github", None):
            self._send(
                200, {"value": self.emulator.oidc_token(subject, self._query.get("audience", "https://github.com/octo-org"))}
            )

    def _azure_pipelines(self) -> None:
        """Azure Pipelines' OIDC endpoint: POST URI?api-version=7.1&serviceConnectionId=ID, token in `oidcToken`.

        As azure-identity's AzurePipelinesCredential calls it (azure/identity/_credentials/azure_pipelines.py);
        failures carry Azure DevOps' tracing headers x-vss-e2eid and x-msedge-ref.
        """
        tracing = {"x-vss-e2eid": str(uuid.uuid4()), "x-msedge-ref": f"Ref A: {uuid.uuid4().hex[:16]}"}
        subject = self._ci_subject()
        connection = self._query.get("serviceConnectionId", "")
        if self._query.get("api-version") != "7.1":
            self._send(400, {"message": "The api-version query parameter is required."}, tracing)
        elif subject is None:
            self._send(401, {"message": "TF400813: The user is not authorized to access this resource."}, tracing)
        elif self.emulator._service_connections.get(connection) != subject:
            # Since 2026-03 a connection the stage does not reference is refused with this body
            # (dotnet/docker-tools#2012); the status is not published (azure-sdk-for-net prints
            # the body only for a non-200), so 400 here, and the product does not depend on it.
            stage = "Preview.Preview.__default"
            refusal = f"There is no explicit reference to service connection {connection} from current stage {stage}."
            self._send(400, {"count": len(refusal), "value": refusal}, tracing)
        else:
            self._send(200, {"oidcToken": self.emulator.oidc_token(subject)}, tracing)

    # -- control (for the standalone demo) -----------------------------------------------------------
    def _control(self, segments: list[str]) -> None:
        directory = self.emulator.directory
        if segments == ["requests"] and self.command == "GET":
            self._send(
                200,
                [
                    {"kind": r.kind, "method": r.method, "path": r.path, "status": r.status}
                    for r in directory.requests
                    if r.kind != "control"
                ],
            )
        elif len(segments) == 3 and segments[0] == "tenants" and segments[2] == "bitlocker":
            tenant = directory.tenant(segments[1])
            if tenant is None:
                self._send(404, {"message": "no such tenant"})
            elif self.command == "POST":
                value = json.loads(self._body)
                self.emulator.set_bitlocker(tenant, value if isinstance(value, bool) else None)
                self._send(200, {BITLOCKER: tenant.bitlocker})
            else:
                self._send(200, {BITLOCKER: tenant.bitlocker})
        else:
            self._send(404, {"message": "unknown control path"})
