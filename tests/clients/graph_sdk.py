"""Microsoft's Python SDKs against the emulator, as a user of them would write it.

Run with the ms-sdks virtualenv's python (scripts/ensure-tools.sh ms-sdks):
    python graph_sdk.py token | read | write true|false
Environment: EMULATOR_URL, TENANT_ID, CLIENT_ID, CLIENT_SECRET, SSL_CERT_FILE (the emulator's CA).
Prints one JSON object; never a token or a secret.

azure-identity's ClientSecretCredential takes the authority host without the tenant, and needs
instance discovery off: MSAL otherwise asks login.microsoftonline.com about any host it does not
know (msal/authority.py). msgraph-sdk reaches the emulator through its request adapter's base URL.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from azure.identity.aio import ClientSecretCredential
from msgraph import GraphServiceClient
from msgraph.generated.models.authorization_policy import AuthorizationPolicy
from msgraph.generated.models.default_user_role_permissions import DefaultUserRolePermissions

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


def credential() -> ClientSecretCredential:
    """An app's client-secret credential, its authority the emulator."""
    return ClientSecretCredential(
        os.environ["TENANT_ID"],
        os.environ["CLIENT_ID"],
        os.environ["CLIENT_SECRET"],
        authority=os.environ["EMULATOR_URL"],
        disable_instance_discovery=True,
    )


async def main(command: str, value: str | None) -> dict[str, Any]:
    """Run one command; its result as JSON."""
    async with credential() as cred:
        if command == "token":
            token = await cred.get_token(GRAPH_SCOPE)
            return {"expiresOn": token.expires_on, "length": len(token.token)}
        client = GraphServiceClient(cred, [GRAPH_SCOPE])
        client.request_adapter.base_url = f"{os.environ['EMULATOR_URL']}/v1.0"
        if command == "read":
            policy = await client.policies.authorization_policy.get()
            permissions = policy.default_user_role_permissions if policy else None
            return {"allowed": permissions.allowed_to_read_bitlocker_keys_for_owned_device if permissions else "missing"}
        permissions = DefaultUserRolePermissions(allowed_to_read_bitlocker_keys_for_owned_device=value == "true")
        await client.policies.authorization_policy.patch(AuthorizationPolicy(default_user_role_permissions=permissions))
        return {"written": value == "true"}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))))
