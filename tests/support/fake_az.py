"""A stand-in for the Azure CLI's `az account get-access-token`, signed in as a *user*.

The real CLI (tests/support/real_az.py) serves every service-principal test; a person's sign-in
needs a browser or a device code, which no test here can give, so what only a user account shows
(signed out, "User account … does not exist in tenant", a hanging CLI) comes from this stand-in.

It prints what the real one prints (Azure/azure-cli, profile/custom.py get_access_token and
_profile.py get_raw_token): `accessToken`, `expiresOn` (local time), `expires_on` (epoch),
`tenant`, `tokenType`, and no `subscription` when --tenant is given; and fails as the real
one fails: "Please run 'az login' to setup account." when signed out (_profile.py), an
AADSTS refusal when the signed-in account has no access to the tenant asked for.

State comes from the JSON file named by FAKE_AZ_STATE: {"tokens": {TENANT: ACCESS_TOKEN}}; with
"hang": PIDFILE it hangs instead, as a CLI waiting on a dead network does, after starting a
child that holds its output open (the child's pid goes to PIDFILE).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime


def main(argv: list[str]) -> int:
    """Answer `az account get-access-token --output json --resource R --tenant T`."""
    if argv[:2] != ["account", "get-access-token"]:
        sys.stderr.write(f"ERROR: 'az {' '.join(argv[:2])}' is not supported by this stand-in\n")
        return 2
    tenant = argv[argv.index("--tenant") + 1] if "--tenant" in argv else ""
    try:
        with open(os.environ["FAKE_AZ_STATE"]) as file:
            state = json.load(file)
    except (KeyError, OSError):
        state = {}
    if "hang" in state:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        with open(state["hang"], "w") as pidfile:
            pidfile.write(str(child.pid))
        time.sleep(600)
    tokens: dict[str, str] = state.get("tokens", {})
    if not tokens:
        sys.stderr.write("ERROR: Please run 'az login' to setup account.\n")
        return 1
    token = tokens.get(tenant)
    if token is None:
        sys.stderr.write(
            f"ERROR: AADSTS50020: User account 'admin@contoso.example' from identity provider "
            f"'https://sts.windows.net/{next(iter(tokens))}/' does not exist in tenant '{tenant}'.\n"
            f"Interactive authentication is needed. Please run:\naz login --tenant {tenant}\n"
        )
        return 1
    expires = int(time.time()) + 3599
    print(
        json.dumps(
            {
                "accessToken": token,
                "expiresOn": datetime.fromtimestamp(expires).strftime("%Y-%m-%d %H:%M:%S.%f"),
                "expires_on": expires,
                "tenant": tenant,
                "tokenType": "Bearer",
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
