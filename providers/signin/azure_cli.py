"""Tokens from the Azure CLI's signed-in account, as azure-identity's AzureCliCredential gets them.

`az account get-access-token --resource GRAPH --tenant TENANT --output json` prints
`accessToken`, `expiresOn` (local time), `expires_on` (epoch seconds, az >= 2.54),
`tenant` and `tokenType`. A CLI that is not signed in, or not to that tenant, says
`az login` on stderr (azure-identity, azure/identity/_credentials/azure_cli.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from typing import Any

from providers.common.deadline import current_deadline
from providers.common.errors import AuthenticationError, ConfigurationError, DeadlineExceededError, UnreachableError
from providers.common.outside_text import one_line
from providers.config.credentials import HOW_TO_CONFIGURE
from providers.config.settings import USE_CLI

__all__ = ["AzureCliToken", "find_az"]

_WINDOWS = sys.platform == "win32"
TIMEOUT_SECONDS = 30.0  # azure-identity waits 10 s; a CI runner's first `az` call can take longer
_REFRESH_MARGIN_SECONDS = 300


def find_az(fallback: bool = False) -> str:
    """The `az` executable on PATH, or a ConfigurationError saying what to do.

    `fallback`: the CLI is only tried because nothing else is configured, so the message
    lists every credential there is.
    """
    # On Windows the CLI is az.cmd; `az` beside it is a bash script Windows cannot run, which
    # shutil.which returns on Python 3.12.0-3.12.7 (Azure/azure-sdk-for-python#41789), so
    # az.cmd is looked for first, as azure-identity does (_credentials/azure_cli.py, _run_command).
    path = (_WINDOWS and shutil.which("az.cmd")) or shutil.which("az")
    if path is None and fallback:
        raise ConfigurationError(
            f"No credential for Microsoft Graph is configured: {HOW_TO_CONFIGURE}, or install the Azure CLI "
            "and run `az login` (tried when nothing else is set, `az` is not on PATH)."
        )
    if path is None:
        raise ConfigurationError(
            f"The Azure CLI (`az`) is not on PATH, and {USE_CLI.describe()} is true: "
            "install it and run `az login`, or configure another credential"
        )
    return path


class AzureCliToken:
    """An access token for one tenant from `az`, reused until five minutes before it expires."""

    def __init__(self, tenant: str, resource: str, timeout: float = TIMEOUT_SECONDS):
        self._tenant = tenant
        self._resource = resource
        self._timeout = timeout
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def token(self) -> str:
        """A current token, from `az` when the one held is near expiry."""
        with self._lock:
            if self._token is None or self._token[1] - _REFRESH_MARGIN_SECONDS < time.time():
                self._token = _parse(self._run())
            return self._token[0]

    def _run(self) -> str:
        command = [find_az(), "account", "get-access-token", "--output", "json"]
        command += ["--resource", self._resource, "--tenant", self._tenant]
        deadline = current_deadline()
        timeout = self._timeout if deadline is None else max(0.0, min(self._timeout, deadline.left()))
        env = {**os.environ, "AZURE_CORE_NO_COLOR": "true"}
        try:
            with subprocess.Popen(  # noqa: S603 - a fixed command line, no shell
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
                start_new_session=True,  # its own process group, so a timeout ends `az` and whatever it started
            ) as process:
                try:
                    stdout, stderr = process.communicate(timeout=timeout)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.communicate()
                    raise DeadlineExceededError(
                        f"The Azure CLI gave no token within {timeout:.0f} s"
                        + (f" (what was left of the operation's {deadline.seconds:.0f} s deadline)" if deadline else "")
                        + "; run `az account show`"
                    ) from None
        except OSError as exc:
            raise UnreachableError(f"Could not run the Azure CLI: {exc.strerror}") from None
        if process.returncode != 0:
            raise AuthenticationError(self._refusal(stderr))
        return stdout

    def _refusal(self, stderr: str) -> str:
        codes = re.findall(r"AADSTS\d+", stderr)
        code = f" ({codes[0]})" if codes else ""
        if ("az login" in stderr or "az account set" in stderr) and not codes:
            return f"The Azure CLI is not signed in to tenant {self._tenant}{code}: run `az login --tenant {self._tenant}`"
        return f"The Azure CLI gave no token for tenant {self._tenant}: {one_line(_cause(stderr))}"


def _cause(stderr: str) -> str:
    """The line that says why: `az` may warn first (a service principal asked for another tenant
    logs "WARNING: Could not retrieve credential from local cache …", azure/cli/core/auth/identity.py,
    before its "ERROR: AADSTS…" line), so the ERROR line wins, then the first line that is no warning.
    With AZURE_CORE_NO_COLOR set, knack prefixes each line with its level (knack/log.py)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    others = [line for line in lines if not line.startswith("WARNING:")]
    return next(iter(errors or others or lines), "no message")


def _parse(output: str) -> tuple[str, float]:
    """The token and its expiry (epoch seconds) from `az account get-access-token` output."""
    try:
        body: Any = json.loads(output)
        token = body["accessToken"]
        expires = float(body["expires_on"]) if "expires_on" in body else _local_time(body["expiresOn"])
    except (ValueError, KeyError, TypeError):
        raise AuthenticationError("The Azure CLI printed no token in the expected form; update it (`az upgrade`)") from None
    if not isinstance(token, str) or not token:
        raise AuthenticationError("The Azure CLI printed an empty token; run `az login` again")
    return token, expires


def _local_time(text: str) -> float:
    """`expiresOn` is the machine's local time, e.g. "2026-11-27 12:34:56.000000"."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").timestamp()
