"""bitlocker-policy: the tenant's BitLocker self-service setting as a Pulumi dynamic resource.

Modules, one job each:
- the resources: `bitlocker` (the setting and its provider), `adoption` (the value found at
  adoption, checkpointed before any write), `properties` (their property names, one home
  for providers, program exports and fleet), `provider_base` (what both providers share),
  `consistency` (reads after our own write), `retention` (retainOnDelete as meant now),
  `invocation` (the pulumi command a provider serves), `engine_watch` (no provider outlives
  its engine);
- configuration: `settings` (config keys and environment variables, the declared value),
  `configuration` (resolved and checked once), `clouds`, `stack_config` (stack files and
  Pulumi.yaml as they stand), `tenant_names`, `baseline` (the project's baseline and a
  stack's recorded exception: the rule the policy pack and the fleet share);
- Graph and HTTP: `session` (what a process holds), `graph` (the Graph calls), `audit` (who
  changed the setting, from Entra's audit log), `retry` (the retrying HTTP client),
  `deadline` (one per operation);
- identity: `tenants` (GUIDs, a token's tenant), `token_claims`, `discovery_cache`, `entra_answers` (what an
  answer from Entra means), `tokens` (MSAL), `assertions` (OIDC tokens for federation),
  `certificates`, `azure_cli`, `credentials` (which credential is configured);
- text and files: `outside_text`, `files`; and `errors`.

Importing this package loads neither httpx nor MSAL: the program process only declares
resources, and the provider process loads them when it first needs the network.
"""

import sys

from providers.adoption import BitlockerAdoption, BitlockerAdoptionProvider
from providers.bitlocker import BitlockerKeyAccess, BitlockerKeyAccessProvider

# `import httpx` tries `from providers._main import main`, its command-line tool, which imports click,
# pygments and rich whenever all three are installed (httpx/__init__.py), several times the
# cost of httpx itself in every provider process (bench/coldstart.py). Nothing here uses that tool;
# a None in sys.modules makes the import fail at once, and httpx falls back to its stub.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

__all__ = ["BitlockerAdoption", "BitlockerAdoptionProvider", "BitlockerKeyAccess", "BitlockerKeyAccessProvider"]
