"""`fleet onboard`: a stack file and a backend stack per customer, from a CSV or the partner's GDAP customers.

A customer's stack is named after the customer (`stack_name`); its file holds the tenant's GUID,
`bitlocker-policy:customerName`, the declared value, an exception when the CSV gives one, and the
`--config` keys every new stack shares. The file is written before `pulumi stack init` runs
(Automation API, `auto.Stack.create`), which keeps the file as written and only appends its
`encryptionsalt:` for a passphrase backend (measured with Pulumi v3.274.1; tests/e2e/test_onboard_cli.py).

A second run with the same input changes nothing: a stack file that exists is never rewritten
(a difference is reported, to be changed with `pulumi config set`), and a stack already in the
backend is not created again. A tenant that another stack already manages is refused, naming it.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import yaml
from pulumi import automation as auto

from fleet.engine import Engine
from fleet.outcome import EXIT_CHANGES, EXIT_CONFIG, EXIT_FAILED, EXIT_OK
from fleet.stacks import StackFile, find_stacks, resolve_tenants
from program import declare
from providers.common.deadline import operation_deadline
from providers.common.errors import BitlockerPolicyError, ConfigurationError, UnexpectedResponseError
from providers.common.outside_text import one_line
from providers.config.baseline import EXCEPTION
from providers.config.settings import (
    AUTHORITY_HOST,
    CUSTOMER_NAME,
    DESIRED_VALUE,
    ENVIRONMENT,
    GRAPH_ENDPOINT,
    TENANT_ID,
    Sources,
    parse_bool,
    value_text,
)
from providers.config.stack_config import config_dir
from providers.config.tenant_names import is_guid, tenant_problem
from providers.graph.client import GraphClient
from providers.session import Session, new_http_client
from providers.signin.discovery_cache import DiscoveryCache, default_path

__all__ = ["CSV_COLUMNS", "GDAP_PERMISSION", "Customer", "Step", "main", "plan", "read_csv", "stack_name"]

CSV_COLUMNS = ("tenant", "customer", "declared", "reason", "approvedBy", "expires")
_EXCEPTION_COLUMNS = CSV_COLUMNS[3:]
# learn.microsoft.com/graph/api/tenantrelationship-list-delegatedadmincustomers: application permission
# DelegatedAdminRelationship.Read.All; `$top` "supports up to 300 objects"; more pages by @odata.nextLink.
GDAP_PATH = "/v1.0/tenantRelationships/delegatedAdminCustomers"
GDAP_PERMISSION = "DelegatedAdminRelationship.Read.All"
_GDAP_PAGE = "300"
_GDAP_MOST_PAGES = 1000  # 300,000 customers: a next-page link beyond is a loop
OWNED = (TENANT_ID.key, CUSTOMER_NAME.key, DESIRED_VALUE.key, EXCEPTION.key)  # what the import writes itself
_ENDPOINT_KEYS = (AUTHORITY_HOST.key, GRAPH_ENDPOINT.key, ENVIRONMENT.key)  # what a GDAP read takes from --config
_NO_IDS: dict[str, Any] = {"status": 200, "code": None, "request_id": None, "client_request_id": None}  # a 200 of no use
_MAX_SLUG = 80  # of Pulumi's 100 characters: room for a collision's "-" and 8 characters of the tenant

NEW, CREATED, UNCHANGED, DIFFERS, REFUSED, FAILED = "new", "created", "unchanged", "differs", "refused", "failed"


@dataclass(frozen=True)
class Customer:
    """One customer to onboard: its tenant (GUID or verified domain), name, declared value, exception."""

    tenant: str
    name: str
    declared: bool | None  # None: the --declare default
    exception: Mapping[str, str] | None = None


@dataclass
class Step:
    """What the import does for one customer: its stack, and what became of it."""

    customer: Customer
    stack: str
    tenant: str  # GUID, or the spelling when it could not be resolved
    config: dict[str, Any]
    action: str = NEW
    note: str = ""
    path: Path = field(default_factory=Path)


def read_csv(path: Path) -> list[Customer]:
    """The customers of a CSV with a header row (CSV_COLUMNS; the exception columns optional), or a
    ConfigurationError naming the row and the fix."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.DictReader(file)
            missing = [name for name in CSV_COLUMNS[:3] if name not in (reader.fieldnames or [])]
            if missing:
                raise ConfigurationError(
                    f"{path}: the header row lacks {', '.join(missing)}: the columns are {','.join(CSV_COLUMNS)} "
                    "(the last three only for an exception)"
                )
            return [_customer(path, reader.line_num, row) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ConfigurationError(f"{path}: cannot be read as UTF-8 CSV ({one_line(str(error))})") from None


def _customer(path: Path, line: int, row: Mapping[str, str | None]) -> Customer:
    cell = {name: (row.get(name) or "").strip() for name in CSV_COLUMNS}
    where = f"{path}, line {line}"
    if problem := tenant_problem(cell["tenant"]):
        raise ConfigurationError(f"{where}: tenant {cell['tenant']!r} is no tenant GUID or verified domain ({problem})")
    if not cell["customer"]:
        raise ConfigurationError(f"{where}: customer is empty: name the customer (it names the stack)")
    declared = parse_bool(cell["declared"]) if cell["declared"] else None
    if cell["declared"] and declared is None:
        raise ConfigurationError(f"{where}: declared must be true or false (or empty for --declare), got {cell['declared']!r}")
    given = [name for name in _EXCEPTION_COLUMNS if cell[name]]
    if given and len(given) < len(_EXCEPTION_COLUMNS):
        absent = ", ".join(name for name in _EXCEPTION_COLUMNS if not cell[name])
        raise ConfigurationError(f"{where}: an exception needs reason, approvedBy and expires; {absent} empty")
    if given:
        try:
            date.fromisoformat(cell["expires"])
        except ValueError:
            raise ConfigurationError(f"{where}: expires {cell['expires']!r} is no date YYYY-MM-DD") from None
    exception = {name: cell[name] for name in _EXCEPTION_COLUMNS} if given else None
    return Customer(cell["tenant"], cell["customer"], declared, exception)


def gdap_customers(sources: Sources, http: httpx.Client, discovery: DiscoveryCache) -> list[Customer]:
    """The partner tenant's GDAP customers (`sources` name the partner tenant, its app and credential).

    learn.microsoft.com/graph/api/resources/delegatedadmincustomer: `tenantId` and `displayName`
    of each customer with an active delegated admin relationship.
    """
    session = Session(sources, http_factory=lambda: http, discovery=discovery)
    partner = sources.get(TENANT_ID) or ""
    with operation_deadline(session.configuration.deadline_seconds):
        try:
            return _pages_of_customers(session.graph_client(partner))
        except RecursionError:  # json's parser, on an answer nested thousands deep
            raise UnexpectedResponseError(
                "Graph answered the list of GDAP customers with JSON nested too deeply to read", **_NO_IDS
            ) from None


def _pages_of_customers(graph: GraphClient) -> list[Customer]:
    """Every page of the list, by `@odata.nextLink`, up to _GDAP_MOST_PAGES."""
    customers: list[Customer] = []
    page = graph.get_json(GDAP_PATH, {"$top": _GDAP_PAGE}, GDAP_PERMISSION)
    for _ in range(_GDAP_MOST_PAGES):
        customers += [_gdap_customer(item) for item in _items(page)]
        link = page.get("@odata.nextLink")
        if not isinstance(link, str):
            return customers
        page = graph.get_json(link, None, GDAP_PERMISSION)
    raise UnexpectedResponseError(
        f"Graph's list of GDAP customers went on past {_GDAP_MOST_PAGES} pages: not followed", **_NO_IDS
    )


def _items(page: Any) -> list[Any]:
    items = page.get("value") if isinstance(page, dict) else None
    if not isinstance(items, list):
        raise UnexpectedResponseError("Graph answered the list of GDAP customers with no `value` list", **_NO_IDS)
    return items


def _gdap_customer(item: Any) -> Customer:
    tenant = item.get("tenantId") if isinstance(item, dict) else None
    name = item.get("displayName") if isinstance(item, dict) else None
    if not isinstance(tenant, str) or not is_guid(tenant):
        raise UnexpectedResponseError(
            f"Graph listed a GDAP customer whose tenantId is no GUID ({one_line(str(tenant))!r})", **_NO_IDS
        )
    return Customer(tenant.lower(), name.strip() if isinstance(name, str) and name.strip() else tenant.lower(), None)


def slug(name: str) -> str:
    """A customer's name as Pulumi accepts a stack name: ASCII letters and digits in lower case, joined by hyphens."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:_MAX_SLUG].strip("-") or "customer"


def stack_name(customer_slug: str, tenant: str, existing: Mapping[str, str | None], shared: bool) -> str:
    """The customer's stack: its slug, unless that names another tenant's stack or another customer of
    this import has it too (`shared`): then the slug and the tenant GUID's first 8 characters. A name
    the tenant's stack already has stays, whichever customers an earlier import held."""
    suffixed = f"{customer_slug}-{tenant[:8]}"
    if existing.get(customer_slug) == tenant or existing.get(suffixed) == tenant:
        return customer_slug if existing.get(customer_slug) == tenant else suffixed
    return suffixed if customer_slug in existing or shared else customer_slug


def plan(
    customers: Sequence[Customer], project: Path, declared: bool | None, extra: Mapping[str, str], discovery: DiscoveryCache
) -> list[Step]:
    """What to do for each customer, against the project's stacks; nothing is written."""
    existing = find_stacks(project)
    directory = config_dir(project)
    candidates = [StackFile(f"row{index}", directory, {**extra, TENANT_ID.key: c.tenant}) for index, c in enumerate(customers)]
    resolved = resolve_tenants([*existing, *candidates], discovery)
    owners = {tenant: stack.name for stack in existing if isinstance(tenant := resolved[stack.name], str)}
    names = {stack.name: tenant if isinstance(tenant := resolved[stack.name], str) else None for stack in existing}
    guids = [resolved[candidate.name] for candidate in candidates]
    slugs = [slug(customer.name) for customer in customers]
    tenants_of_slug = Counter(s for s, _ in {(s, str(g)) for s, g in zip(slugs, guids, strict=True)})
    steps: list[Step] = []
    seen: dict[str, str] = {}
    for customer, guid, customer_slug in zip(customers, guids, slugs, strict=True):
        if not isinstance(guid, str):
            steps.append(Step(customer, "", customer.tenant, {}, REFUSED, str(guid)))
            continue
        name = stack_name(customer_slug, guid, names, tenants_of_slug[customer_slug] > 1)
        value = customer.declared if customer.declared is not None else declared
        config: dict[str, Any] = {**extra, TENANT_ID.key: guid, CUSTOMER_NAME.key: customer.name}
        if value is not None:
            config[DESIRED_VALUE.key] = value_text(value)
        if customer.exception:
            config[EXCEPTION.key] = dict(customer.exception)
        step = Step(customer, name, guid, config, path=directory / f"Pulumi.{name}.yaml")
        if refusal := _refusal_problem(guid, name, value, seen, owners):
            step.action, step.note = REFUSED, refusal
        elif name in names:
            step.note = _difference_problem(step, next(s for s in existing if s.name == name)) or ""
            step.action = DIFFERS if step.note else UNCHANGED
        seen.setdefault(guid, name)
        steps.append(step)
    return steps


def _refusal_problem(guid: str, name: str, value: bool | None, seen: Mapping[str, str], owners: Mapping[str, str]) -> str | None:
    """Why a customer is not imported as stack `name`, or None."""
    if guid in seen:
        return f"tenant {guid} is listed twice: stack {seen[guid]} takes it"
    if value is None:
        return "no declared value: fill the CSV's declared column, or pass --declare true|false"
    if owners.get(guid, name) != name:
        return f"tenant {guid} is already managed by stack {owners[guid]}: not imported as {name}"
    return None


def _difference_problem(step: Step, stack: StackFile) -> str | None:
    """How the stack's file differs from what the import would write (the keys it owns, but the tenant:
    its spelling may differ, and the GUIDs agree), or None."""
    wanted = {key: value for key, value in step.config.items() if key in OWNED and key != TENANT_ID.key}
    differ = [key for key, value in wanted.items() if _normal(stack.config.get(key)) != _normal(value)]
    if not differ:
        return None
    return f"{stack.path.name} has other values for {', '.join(differ)}: left as is (`pulumi config set` changes them)"


def _normal(value: Any) -> Any:
    """A config value as compared: text and booleans alike, mappings key by key."""
    if isinstance(value, dict):
        return {key: _normal(item) for key, item in value.items()}
    return value_text(value) if isinstance(value, bool) else None if value is None else str(value)


def stack_file_text(config: Mapping[str, Any]) -> str:
    """A stack file with this config, as the import writes it (Pulumi keeps it as is on `stack init`)."""
    return yaml.safe_dump({"config": dict(config)}, sort_keys=False, allow_unicode=True, default_flow_style=False)


def apply(steps: list[Step], project: Path) -> None:
    """Once the backend answers, write the new stack files, then create every stack the backend lacks (`pulumi stack init`)."""
    engine = Engine(project, declare)
    engine.check_backend()  # one line when the backend cannot be used (EngineError)
    workspace = auto.LocalWorkspace(work_dir=str(project))
    try:
        in_backend = {summary.name.rsplit("/", 1)[-1] for summary in workspace.list_stacks()}
    except auto.errors.CommandError as error:
        raise ConfigurationError(f"pulumi stack ls: {engine.failure(error)}") from None
    for step in steps:
        if step.action == NEW:
            step.path.parent.mkdir(parents=True, exist_ok=True)
            step.path.write_text(stack_file_text(step.config), encoding="utf-8")
    for step in steps:
        if step.action in (NEW, UNCHANGED, DIFFERS) and step.stack not in in_backend:
            try:
                auto.Stack.create(step.stack, workspace)
            except auto.errors.CommandError as error:
                step.action, step.note = FAILED, _init_failure(step.stack, engine, error)
                continue
            if step.action == UNCHANGED:
                step.action = CREATED


def _init_failure(stack: str, engine: Engine, error: auto.errors.CommandError) -> str:
    return f"pulumi stack init {stack}: {engine.failure(error)}"


def main(args: argparse.Namespace, say: Callable[[str, str], None]) -> int:
    """`fleet onboard`: read the customers, plan, then (unless --dry-run) write and create; a line per
    customer on stdout, errors and the summary through `say` (label, message)."""
    extra = dict(args.config or [])
    declared = None if args.declare is None else args.declare == "true"
    discovery = DiscoveryCache(default_path(), deferred=True)
    try:
        if args.csv:
            customers = read_csv(args.csv)
        else:
            sources = Sources({TENANT_ID.key: args.gdap, **{k: v for k, v in extra.items() if k in _ENDPOINT_KEYS}}, os.environ)
            with new_http_client() as http:
                customers = gdap_customers(sources, http, discovery)
        steps = plan(customers, args.project, declared, extra, discovery)
        if not args.dry_run:
            apply(steps, args.project)
    except BitlockerPolicyError as error:
        say("error", str(error))
        return EXIT_CONFIG
    finally:
        discovery.flush()
    for step in steps:
        print("\t".join(one_line(text, limit=10_000) for text in (step.stack or "-", step.tenant, step.action, step.note)))
        if args.dry_run and step.action == NEW:
            print(f"# {step.path}\n{stack_file_text(step.config)}", end="")
    say("onboard", _summary(steps, args.dry_run))
    actions = {step.action for step in steps}
    return EXIT_FAILED if actions & {REFUSED, FAILED} else EXIT_CHANGES if DIFFERS in actions else EXIT_OK


def _summary(steps: list[Step], dry_run: bool) -> str:
    counts = Counter(step.action for step in steps)
    if not steps:
        return "no customer to import"
    if counts[UNCHANGED] == len(steps):
        where = "files (the backend not asked: --dry-run)" if dry_run else "files and backend"
        return f"nothing changed: all {len(steps)} stacks are already as imported, in {where}"
    words = {NEW: "would write" if dry_run else "written and created", CREATED: "created in the backend"}
    return ", ".join(
        f"{counts[action]} {words.get(action, action)}"
        for action in (NEW, CREATED, UNCHANGED, DIFFERS, REFUSED, FAILED)
        if counts[action]
    )
