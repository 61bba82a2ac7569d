"""bitlocker-policy: the tenant's BitLocker self-service setting as a Pulumi dynamic resource.

Modules, one job each: `bitlocker` (resource and provider), `graph` (the two Graph calls),
`retry`, `tokens` (MSAL), `credentials` (which credential is configured), `settings`
(config keys and environment variables), `clouds`, `session` (per-process clients), `errors`.
"""

from .bitlocker import BitlockerKeyAccess, BitlockerKeyAccessProvider

__all__ = ["BitlockerKeyAccess", "BitlockerKeyAccessProvider"]
