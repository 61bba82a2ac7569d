"""What the emulated directory knows: tenants, apps, identities, tokens, faults, and a request log."""

from __future__ import annotations

import copy
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from .audit import AuditLog, key_read, policy_update
from .gdap import GdapCustomers
from .policy import BITLOCKER, default_policy

READ_ROLES = frozenset({"Policy.Read.All", "Policy.ReadWrite.Authorization"})
WRITE_ROLE = "Policy.ReadWrite.Authorization"


def service_principal_id(tenant_id: str, app_id: str) -> str:
    """An app's service principal object id in a tenant: stable, distinct per tenant."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant_id}/{app_id}"))


@dataclass
class App:
    """An app registration (service principal) with its credentials and granted app roles."""

    client_id: str
    roles: set[str]
    display_name: str = "bitlocker-policy"  # the registration's name, which audit events show
    secrets: dict[str, bool] = field(default_factory=dict)  # secret -> expired
    certificates: list[Any] = field(default_factory=list)  # cryptography public keys
    federated_subjects: set[str] = field(default_factory=set)

    def add_secret(self, expired: bool = False) -> str:
        """A new client secret for this app."""
        secret = "emu~" + secrets.token_urlsafe(24)
        self.secrets[secret] = expired
        return secret


@dataclass
class Tenant:
    """One emulated tenant: its policy and apps."""

    id: str
    domain: str
    policy: dict[str, Any]
    apps: dict[str, App] = field(default_factory=dict)
    stale_snapshot: dict[str, Any] | None = None
    stale_until: float = 0.0
    audit: AuditLog = field(default_factory=AuditLog)
    policy_object_id: str = field(default_factory=lambda: str(uuid.uuid4()))  # audit events' target id (a GUID)
    gdap: GdapCustomers = field(default_factory=GdapCustomers)  # as a partner tenant: its GDAP customers

    def add_app(self, roles: Iterable[str] = (WRITE_ROLE,), client_id: str | None = None) -> App:
        """Register an app with these Graph application permissions (admin-consented)."""
        app = App(client_id=client_id or str(uuid.uuid4()), roles=set(roles))
        self.apps[app.client_id] = app
        return app

    def consent(self, app: App, roles: Iterable[str] = (WRITE_ROLE,)) -> App:
        """Admin consent to another tenant's multi-tenant app: a service principal with these roles.

        The registration's credentials stay on the application object in its home tenant and
        sign the app in to every tenant that consented; the roles are granted per tenant
        (learn.microsoft.com/entra/identity-platform/app-objects-and-service-principals).
        """
        principal = App(app.client_id, set(roles), app.display_name, app.secrets, app.certificates, app.federated_subjects)
        self.apps[app.client_id] = principal
        return principal

    @property
    def bitlocker(self) -> bool | None:
        """The live value, or None when it is null or the key is absent."""
        value = self.policy["defaultUserRolePermissions"].get(BITLOCKER)
        return value if isinstance(value, bool) else None


@dataclass
class IssuedToken:
    """An access token the emulator issued."""

    tenant_id: str
    roles: frozenset[str]
    expires_at: float
    audience: str
    app_id: str = ""


@dataclass
class Recorded:
    """One request the emulator received."""

    kind: str  # graph | token | discovery | msi | github | control | other
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    tenant_id: str | None = None
    status: int = 0
    request_id: str | None = None  # the request-id header of Graph's answer
    at: float = field(default_factory=time.monotonic)


@dataclass
class Fault:
    """One injected misbehaviour, for the next `remaining` matching requests."""

    kind: str  # status | drop | garbage | slow | applied (a PATCH written, then answered with `status`, 0: dropped)
    #          | answer (`status` with `body` instead of the endpoint's answer) | mangle (the real answer, its bytes `mangled`)
    remaining: int
    status: int = 0
    retry_after: str | None = None
    method: str | None = None
    endpoint: str = "graph"  # graph | audit (Graph's directoryAudits alone) | token | discovery | msi
    seconds: float = 0.0  # slow: how long the body takes
    tenant_id: str | None = None  # only requests for this tenant (None: any)
    body: Any = None  # answer: a JSON value, or text sent as text/plain
    mangled: Callable[[bytes], bytes] | None = None  # mangle: what a middlebox does to the body


class Faults:
    """Switches a test flips to make Graph or Entra ID misbehave."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[Fault] = []
        self.latency = 0.0
        self.stale_reads_ms = 0
        self.after_write: Callable[[], None] | None = None

    def throttle(
        self, count: int = 1, retry_after: str | None = "1", method: str | None = None, tenant_id: str | None = None
    ) -> None:
        """Answer the next `count` Graph requests (for one tenant, or any) with 429 and Retry-After unless None."""
        self.fail(429, count, retry_after, method, tenant_id=tenant_id)

    def fail(
        self,
        status: int,
        count: int = 1,
        retry_after: str | None = None,
        method: str | None = None,
        endpoint: str = "graph",
        tenant_id: str | None = None,
    ) -> None:
        """Answer the next `count` requests to `endpoint` (for one tenant, or any) with `status` (e.g. 503, 504)."""
        self._add(Fault("status", count, status, retry_after, method, endpoint, tenant_id=tenant_id))

    def drop(self, count: int = 1, method: str | None = None, endpoint: str = "graph") -> None:
        """Close the connection without answering the next `count` requests to `endpoint`."""
        self._add(Fault("drop", count, method=method, endpoint=endpoint))

    def garbage(self, count: int = 1, endpoint: str = "graph") -> None:
        """Answer the next `count` requests to `endpoint` with 200 and an HTML page (a captive proxy)."""
        self._add(Fault("garbage", count, endpoint=endpoint))

    def slow(self, seconds: float, count: int = 1, method: str | None = None, endpoint: str = "graph") -> None:
        """Answer the next `count` requests to `endpoint` (graph | audit) with a body that takes `seconds` to arrive."""
        self._add(Fault("slow", count, method=method, endpoint=endpoint, seconds=seconds))

    def answer(self, endpoint: str, status: int, body: Any, retry_after: str | None = None, count: int = 1) -> None:
        """Answer the next `count` requests to an endpoint (token | discovery | msi | imds | github) with `status` and `body`."""
        self._add(Fault("answer", count, status, retry_after, endpoint=endpoint, body=body))

    def mangle(self, endpoint: str, mangled: Callable[[bytes], bytes], count: int = 1) -> None:
        """Send the endpoint's real answer (a real token included), its body passed through `mangled` first."""
        self._add(Fault("mangle", count, endpoint=endpoint, mangled=mangled))

    def applied(self, status: int, count: int = 1, retry_after: str | None = None) -> None:
        """Write the next `count` PATCHes, then answer them with `status` instead of 204 (0: drop the connection)."""
        self._add(Fault("applied", count, status, retry_after, method="PATCH"))

    def _add(self, fault: Fault) -> None:
        with self._lock:
            self._queue.append(fault)

    def take(self, method: str, endpoint: str = "graph", tenant_id: str | None = None) -> Fault | None:
        """The fault for this request, if any, used up by one."""
        with self._lock:
            for fault in self._queue:
                if fault.endpoint == endpoint and fault.method in (None, method) and fault.tenant_id in (None, tenant_id):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._queue.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        """Behave again."""
        with self._lock:
            self._queue.clear()
        self.latency = 0.0
        self.stale_reads_ms = 0
        self.after_write = None


class Directory:
    """All tenants and everything issued, guarded by one lock."""

    def __init__(self) -> None:
        self.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.lock = threading.RLock()
        self.tenants: dict[str, Tenant] = {}
        self.tokens: dict[str, IssuedToken] = {}
        # This machine's managed identities: client id ("" = system-assigned) -> (home tenant id, roles)
        self.managed_identities: dict[str, tuple[str, set[str]]] = {}
        self.requests: list[Recorded] = []
        self.faults = Faults()

    def add_tenant(self, bitlocker: bool = True, domain: str | None = None, tenant_id: str | None = None) -> Tenant:
        """A new tenant whose owners may (or may not) read their BitLocker keys."""
        tid = tenant_id or str(uuid.uuid4())
        tenant = Tenant(tid, domain or f"t{tid[:8]}.onmicrosoft.com", default_policy(bitlocker))
        with self.lock:
            self.tenants[tid] = tenant
        return tenant

    def tenant(self, id_or_domain: str) -> Tenant | None:
        """The tenant by GUID or verified domain (case-insensitive)."""
        key = id_or_domain.lower()
        with self.lock:
            return next((t for t in self.tenants.values() if key in (t.id.lower(), t.domain.lower())), None)

    def issue(self, tenant: Tenant, roles: Iterable[str], app_id: str, audience: str, lifetime: int = 3599) -> str:
        """A new app-only access token: a signed JWT with the claims Entra ID puts in one.

        Claims as learn.microsoft.com documents them ("Access token claims reference"): `aud`
        the resource, `iss` https://sts.windows.net/{tid}/, `tid` the tenant that issued it
        (a managed identity's home tenant), `appid`, `roles` (application permissions),
        `idtyp` "app", `ver` "1.0". Clients should treat it as opaque; the product reads `tid` only.
        """
        now = int(time.time())
        claims = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{tenant.id}/",
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "appid": app_id,
            "idtyp": "app",
            # An app-only token's oid is the service principal's object id in the tenant
            # (learn.microsoft.com/entra/identity-platform/access-token-claims-reference): the id the
            # audit log gives as initiatedBy.app.servicePrincipalId (record_app_change).
            "oid": service_principal_id(tenant.id, app_id),
            "sub": str(uuid.uuid4()),
            "roles": sorted(roles),
            "tid": tenant.id,
            "ver": "1.0",
        }
        token = jwt.encode(claims, self.signing_key, algorithm="RS256")
        with self.lock:
            self.tokens[token] = IssuedToken(tenant.id, frozenset(roles), now + lifetime, audience, app_id)
        return token

    def validate(self, token: str, audiences: Iterable[str]) -> IssuedToken | None:
        """The token's grant when it is one this directory signed, unexpired, for one of `audiences`."""
        try:
            claims = jwt.decode(token, self.signing_key.public_key(), algorithms=["RS256"], audience=list(audiences))
        except jwt.PyJWTError:
            return None
        return IssuedToken(claims["tid"], frozenset(claims["roles"]), claims["exp"], claims["aud"], claims["appid"])

    def set_bitlocker(self, tenant: Tenant, value: bool | None, by: str | None = None) -> None:
        """Change the live value (None: null) behind the product's back, as an admin in the portal would:
        the audit log records the change by that user (`by`, a UPN; default the tenant's admin)."""
        upn = by or f"admin@{tenant.domain}"
        with self.lock:
            old = tenant.bitlocker
            tenant.policy["defaultUserRolePermissions"][BITLOCKER] = value
            tenant.stale_snapshot = None
            if old != value:
                now = datetime.now(UTC)
                tenant.audit.record(
                    policy_update(tenant.policy_object_id, old, value, now, user=_user(upn), app=None, shape=tenant.audit.shape),
                    now,
                )

    def record_app_change(self, tenant: Tenant, app_id: str, old: bool | None, new: bool | None) -> None:
        """The audit event of a PATCH by an app (client credentials): `initiatedBy.user` null, `app` filled."""
        principal = tenant.apps.get(app_id)
        app = {
            "appId": None if tenant.audit.app_id_null else app_id,
            "displayName": principal.display_name if principal else None,
            "servicePrincipalId": service_principal_id(tenant.id, app_id),
            "servicePrincipalName": principal.display_name if principal else None,
        }
        now = datetime.now(UTC)
        with self.lock:
            tenant.audit.record(
                policy_update(tenant.policy_object_id, old, new, now, user=None, app=app, shape=tenant.audit.shape), now
            )

    def read_key(self, tenant: Tenant, by: str, device: str = "LAPTOP-01") -> str:
        """A user reads a device's BitLocker recovery key (in the portal, say): the audit log records it. The key's id."""
        key_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant.id}/{device}"))
        now = datetime.now(UTC)
        with self.lock:
            tenant.audit.record(key_read(key_id, device, now, user=_user(by), app=None), now)
        return key_id

    def policy_view(self, tenant: Tenant) -> dict[str, Any]:
        """What a GET sees now: the stale snapshot for a while after a write, if asked for."""
        with self.lock:
            if tenant.stale_snapshot is not None and time.time() < tenant.stale_until:
                return copy.deepcopy(tenant.stale_snapshot)
            return copy.deepcopy(tenant.policy)

    def record(self, entry: Recorded) -> None:
        """Keep one request for the tests to assert on."""
        with self.lock:
            self.requests.append(entry)

    def recorded(self, kind: str | None = None, method: str | None = None, tenant_id: str | None = None) -> list[Recorded]:
        """The requests seen so far, filtered."""
        with self.lock:
            return [
                r
                for r in self.requests
                if (kind is None or r.kind == kind)
                and (method is None or r.method == method)
                and (tenant_id is None or r.tenant_id == tenant_id)
            ]


def _user(upn: str) -> dict[str, Any]:
    """A user as the audit log's initiatedBy.user gives one."""
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, upn)),
        "displayName": upn.split("@")[0].title(),
        "userPrincipalName": upn,
        "ipAddress": "203.0.113.7",
    }
