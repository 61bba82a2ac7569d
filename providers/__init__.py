"""bitlocker-policy: the tenant's BitLocker self-service setting as a Pulumi dynamic resource.

At the top, the resources: `bitlocker` (the setting and its provider), `adoption` (the value
found at adoption, checkpointed before any write), `provider_base` (what both providers
share), `properties` (their property names), `configuration` (the settings resolved and
checked once), `session` (what a provider process holds), and `engine_watch` with `startup/`
(its `sitecustomize`, which starts the watch in every provider process: no provider outlives its
engine). Below them, one package per layer, each importing only those after it:
`signin` (signing in to Entra), `config` (reading a stack's configuration), `graph` (calling
Graph) and `common` (errors, deadlines, a token's claims, the version, text and files). docs/design.md, "How it is built",
has a paragraph for each; tests/test_layers.py keeps the imports running one way.

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
