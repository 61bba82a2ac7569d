"""bitlocker-policy: the tenant's BitLocker self-service setting as a Pulumi dynamic resource.

Modules, one job each: `bitlocker` (the setting and its provider), `adoption` (the value
found at adoption, checkpointed before any write), `plumbing` (what both providers share),
`consistency` (reads after our own write), `stack_config` (retainOnDelete as the stack file
says now), `graph` (the two Graph calls),
`retry` (the retrying HTTP client and the operation deadline), `tenants` (GUIDs, a token's
tenant), `tokens` (MSAL), `assertions` (OIDC tokens for federation), `certificates`,
`azure_cli`, `credentials` (which credential is configured), `settings` (config keys and
environment variables), `clouds`, `session` (what a provider process holds), `errors`.
"""

from .adoption import BitlockerAdoption, BitlockerAdoptionProvider
from .bitlocker import BitlockerKeyAccess, BitlockerKeyAccessProvider

__all__ = ["BitlockerAdoption", "BitlockerAdoptionProvider", "BitlockerKeyAccess", "BitlockerKeyAccessProvider"]
