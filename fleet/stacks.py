"""The stacks in stacks/, the tenant each one manages, and stacks that would fight over one tenant.

Two stacks that declare one tenant flip its setting back and forth on every run, and
whichever is destroyed last decides what the tenant keeps: one stack per tenant is the
rule. Spellings differ (GUID, any verified domain, any case), so tenants are compared by
GUID, resolved the way the provider resolves them (OIDC discovery's `issuer`).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from providers.common.errors import BitlockerPolicyError, ConfigurationError
from providers.common.outside_text import one_line
from providers.config.settings import CUSTOMER_NAME, TENANT_ID, Sources, resolve_endpoints
from providers.config.stack_config import is_stack_name, project_values, read_stack_config, stack_files
from providers.config.tenant_names import is_guid, tenant_problem
from providers.session import new_http_client
from providers.signin.discovery_cache import DiscoveryCache
from providers.signin.tenants import TenantDirectory

__all__ = ["Decrypt", "StackFile", "StackValues", "find_stacks", "resolve_tenants", "shared_tenants"]

Decrypt = Callable[[str], Mapping[str, str]]  # a stack's config, its secrets decrypted (`pulumi config --show-secrets`)


class StackValues(Mapping[str, Any]):
    """A stack's config as its program gets it: plain values from its file (Pulumi.yaml's beneath), encrypted
    ones as the CLI decrypts them (`decrypt`, asked once, and only when one of them is read)."""

    def __init__(self, stack: StackFile, decrypt: Decrypt):
        self._stack = stack
        self._decrypt = decrypt
        self._decrypted: Mapping[str, str] | None = None

    def __getitem__(self, key: str) -> Any:
        if key not in self._stack.secret_keys:
            return self._stack.config[key]
        if self._decrypted is None:
            self._decrypted = self._decrypt(self._stack.name)
        return self._decrypted[key]

    def __contains__(self, key: object) -> bool:
        return key in self._stack.config or key in self._stack.secret_keys

    def __iter__(self) -> Iterator[str]:
        return iter({**self._stack.config, **dict.fromkeys(self._stack.secret_keys)})

    def __len__(self) -> int:
        return len(set(self._stack.config) | set(self._stack.secret_keys))


@dataclass(frozen=True)
class StackFile:
    """One stack's config file: `{stackConfigDir}/Pulumi.{name}.yaml`."""

    name: str
    path: Path
    config: Mapping[str, Any]  # plaintext values, Pulumi.yaml's for the keys the file does not set
    secret_keys: tuple[str, ...] = ()  # keys held encrypted, readable only through the CLI
    problem: str | None = None  # why the file cannot be used: this stack fails alone

    @cached_property
    def sources(self) -> Sources:
        """The stack's plaintext config, then the environment: where its provider's settings come from."""
        return Sources(self.config, os.environ)

    @property
    def tenant(self) -> str | None:
        """The declared tenant (config, else the environment), as spelled."""
        return self.sources.get(TENANT_ID)

    @property
    def customer(self) -> str:
        """Whom the tenant belongs to, for people: `bitlocker-policy:customerName`, else a tenant given as a domain."""
        named = self.config.get(CUSTOMER_NAME.key)
        if isinstance(named, str) and named.strip():
            return named.strip()
        return self.tenant if self.tenant and not is_guid(self.tenant) else ""

    def settings(self, decrypt: Decrypt) -> Sources:
        """The stack's settings as its program and provider get them: its config (`StackValues`), then the environment."""
        if self.problem:
            raise ConfigurationError(self.problem)
        return Sources(StackValues(self, decrypt), os.environ)


def find_stacks(project_dir: Path) -> list[StackFile]:
    """Every stack config file of the project, by name, each read once over Pulumi.yaml's values; a file that
    cannot be used says why."""
    stacks = []
    try:
        project: dict[str, Any] | str = project_values(project_dir)  # read once, not once a stack
    except ConfigurationError as error:
        project = str(error)
    for name, path in stack_files(project_dir).items():
        try:
            if not is_stack_name(name):
                raise ConfigurationError(
                    f"{one_line(path.name)!r} names no stack Pulumi accepts (letters, digits, hyphens, underscores, periods)"
                )
            if isinstance(project, str):
                raise ConfigurationError(project)
            found = read_stack_config(path).over(project)
        except ConfigurationError as error:
            stacks.append(StackFile(name, path, {}, problem=str(error)))
        else:
            stacks.append(StackFile(name, path, found.plain, found.secret_keys))
    return stacks


def resolve_tenants(
    stacks: Iterable[StackFile], discovery: DiscoveryCache | None = None
) -> dict[str, str | BitlockerPolicyError]:
    """Stack name → tenant GUID, or the error that kept it from resolving (that stack alone).

    Each stack resolves against its own stack's authority host; a GUID needs no request, a
    domain one discovery GET (none when `discovery` already holds its document).
    """
    resolved: dict[str, str | BitlockerPolicyError] = {}
    directories: dict[str, TenantDirectory] = {}
    with new_http_client() as http:
        for stack in stacks:
            try:
                if stack.problem:
                    raise ConfigurationError(stack.problem)
                if stack.tenant is None or tenant_problem(stack.tenant):
                    raise ConfigurationError(
                        f"Stack {stack.name} declares no tenant GUID or domain ({stack.tenant!r}): "
                        f"set {TENANT_ID.key} in {stack.path}"
                    )
                host = resolve_endpoints(stack.sources).authority_host
                directory = directories.setdefault(host, TenantDirectory(http, host, discovery))
                resolved[stack.name] = directory.guid(stack.tenant)
            except BitlockerPolicyError as error:
                resolved[stack.name] = error
    return resolved


def shared_tenants(resolved: Mapping[str, str | BitlockerPolicyError]) -> dict[str, list[str]]:
    """Tenant GUID → the stacks that manage it, for every tenant managed by more than one."""
    by_tenant: dict[str, list[str]] = defaultdict(list)
    for stack, tenant in resolved.items():
        if isinstance(tenant, str):
            by_tenant[tenant].append(stack)
    return {tenant: sorted(names) for tenant, names in by_tenant.items() if len(names) > 1}
