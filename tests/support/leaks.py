"""The leak check every end-to-end test ends with: no credential anywhere its run left something.

Secrets are whatever the emulator issued or holds (access tokens, client secrets, OIDC
assertions, CI request tokens) and whatever the test configured (a passphrase, a
certificate's key, a webhook's path and query). Places are what the run printed (CLI and
fleet output; a command the test ran with --show-secrets asked for secrets and is left out)
and every file under the directories the run wrote: the backend (state, history, backups,
locks), the project (reports, JSON), PULUMI_HOME (plugins, logs) and the discovery cache.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote_plus, urlsplit

__all__ = ["LeakCheck"]

_SHORTEST = 12  # shorter strings would match by chance


@dataclass
class LeakCheck:
    """What one test's run printed and wrote, and the secrets none of it may contain."""

    secrets: dict[str, str] = field(default_factory=dict)  # secret -> what it is (never printed)
    outputs: list[tuple[str, str]] = field(default_factory=list)  # (what ran, what it printed)
    roots: list[Path] = field(default_factory=list)

    def add_secret(self, secret: str, what: str) -> None:
        """A secret the test configured itself."""
        if len(secret) >= _SHORTEST:
            self.secrets[secret] = what

    def add_key(self, pem: bytes, what: str) -> None:
        """A private key: every full base64 line of its PEM body is a secret."""
        for line in pem.decode().splitlines():
            if len(line) >= 40 and not line.startswith("-----"):
                self.add_secret(line, what)

    def add_webhook(self, url: str, what: str) -> None:
        """A webhook's URL: its path and query are the secret, whole and each segment, name or value
        of them, as written and percent-decoded."""
        parts = urlsplit(url)
        for secret in (parts.path, parts.query, *re.split(r"[/?&=;]", f"{parts.path}?{parts.query}")):
            self.add_secret(secret, what)
            self.add_secret(unquote_plus(secret), what)

    def printed(self, command: str, output: str) -> None:
        """Something the run printed (a command asked for --show-secrets is the user's own request)."""
        if "--show-secrets" not in command:
            self.outputs.append((command, output))

    def findings(self) -> list[str]:
        """Where a secret showed up, naming what it was but never the secret itself."""
        secrets = {secret: what for secret, what in self.secrets.items() if len(secret) >= _SHORTEST}
        found = [
            f"{what} in the output of `{command}`"
            for command, output in self.outputs
            for secret, what in secrets.items()
            if secret in output
        ]
        for path in self._files():
            content = path.read_bytes()
            found += [f"{what} in {path}" for secret, what in secrets.items() if secret.encode() in content]
        return found

    def _files(self) -> list[Path]:
        """Every regular file under the roots, symlinks (the project's .venv) not followed."""
        files = []
        for root in self.roots:
            for directory, _, names in os.walk(root, followlinks=False):
                files += [path for path in (Path(directory) / name for name in names) if path.is_file() and not path.is_symlink()]
        return files
