"""A stack's configuration for the provider, resolved and checked once, without any request.

Built from the stack config and the environment (`Sources`) when a provider process is
configured, or per stack by the fleet, as azure-identity's EnvironmentCredential reads its
variables once in `__init__`: everything after reads this object. A certificate is loaded
and `az` is looked up here too, so that a bad path fails at `pulumi preview`.
"""

from __future__ import annotations

from dataclasses import dataclass

from providers.common.deadline import OPERATION_DEADLINE_SECONDS
from providers.common.errors import ConfigurationError
from providers.config.credentials import AzureCli, ClientCertificate, Credential, resolve_credential
from providers.config.settings import (
    CONSISTENCY_WINDOW,
    DEADLINE_SECONDS,
    UNSUPPORTED_KEYS,
    Endpoints,
    Setting,
    Sources,
    resolve_endpoints,
)
from providers.graph.consistency import SETTLE_WINDOW_SECONDS

__all__ = ["Configuration", "configuration"]


@dataclass(frozen=True)
class Configuration:
    """Where to sign in and with what, how long an operation may take, how long to trust our own write."""

    endpoints: Endpoints
    credential: Credential
    deadline_seconds: float
    consistency_window_seconds: float
    sources: Sources  # as given: retainOnDelete is decided at delete time (providers/config/retention.py)


def configuration(sources: Sources) -> Configuration:
    """The configuration `sources` describe, or the ConfigurationError naming what to fix."""
    refused = [key for key in UNSUPPORTED_KEYS if sources.config.get(key) not in (None, "")]
    if refused:
        raise ConfigurationError(
            "; ".join(f"{key} is not supported by bitlocker-policy: {UNSUPPORTED_KEYS[key]}" for key in refused)
        )
    endpoints, credential = resolve_endpoints(sources), resolve_credential(sources)
    if isinstance(credential, ClientCertificate):
        from providers.signin.certificates import load_certificate  # cryptography is loaded only for certificates

        load_certificate(credential.certificate)
    if isinstance(credential, AzureCli):
        from providers.signin.azure_cli import find_az

        find_az(credential.fallback)
    return Configuration(
        endpoints,
        credential,
        deadline_seconds=_seconds(sources, DEADLINE_SECONDS, OPERATION_DEADLINE_SECONDS, above=0.0, most=3600.0),
        consistency_window_seconds=_seconds(sources, CONSISTENCY_WINDOW, SETTLE_WINDOW_SECONDS, above=-1.0, most=300.0),
        sources=sources,
    )


def _seconds(sources: Sources, setting: Setting, default: float, *, above: float, most: float) -> float:
    raw = sources.get(setting)
    if raw is None:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        seconds = above
    if not above < seconds <= most:
        least = "above 0" if above == 0 else "from 0"
        raise ConfigurationError(f"{setting.key} must be a number of seconds {least} and at most {most:g}, got {raw!r}")
    return seconds
