"""The real Azure CLI (azure-cli from PyPI, scripts/ensure-tools.sh azure-cli) signed in to the emulator.

The emulator is a custom cloud whose Entra and ARM endpoints are its URL (`az cloud register`
with --skip-endpoint-discovery, else az asks ARM's /metadata/endpoints); a service principal signs
in with --allow-no-subscriptions and --skip-subscription-discovery (azure-cli >= 2.86), so no
ARM call is made. AZURE_CORE_INSTANCE_DISCOVERY=false keeps MSAL from asking
login.microsoftonline.com about the emulator's host, and a pre-seeded versionCheck.json keeps az
from asking Azure Storage for its latest release (azure/cli/core/util.py, handle_version_update):
nothing leaves the machine. Each CLI has a config directory of its own: az keeps tokens, a
secret and MSAL's 60 s cache of refusals there.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from emulator import Emulator

__all__ = ["RealAzureCli"]


@dataclass
class RealAzureCli:
    """One Azure CLI configuration (its own AZURE_CONFIG_DIR), pointed at the emulator."""

    bin_dir: Path  # holds only `az`
    config_dir: Path
    emulator: Emulator

    def env(self, path: str) -> dict[str, str]:
        """What a process whose PATH is `path` needs to run this `az` against the emulator."""
        return {
            "PATH": f"{self.bin_dir}{os.pathsep}{path}",
            "AZURE_CONFIG_DIR": str(self.config_dir),
            "AZURE_CORE_INSTANCE_DISCOVERY": "false",
            "AZURE_CORE_COLLECT_TELEMETRY": "false",
            "AZURE_CORE_SURVEY_MESSAGE": "false",
            "REQUESTS_CA_BUNDLE": str(self.emulator.ca_path),  # az's HTTP is requests, which ignores SSL_CERT_FILE
            "SSL_CERT_FILE": str(self.emulator.ca_path),
        }

    def az(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `az ARGS` in this configuration."""
        env = {**os.environ, **self.env(os.environ["PATH"])}
        return subprocess.run(
            [str(self.bin_dir / "az"), *args], capture_output=True, text=True, env=env, check=False, timeout=300
        )

    def sign_in(self, tenant: str, client_id: str, secret: str) -> None:
        """Register the emulator as this CLI's cloud, then `az login` as the app's service principal in `tenant`."""
        self.config_dir.mkdir(parents=True, exist_ok=True)
        python = self.bin_dir.parent / "venv" / "bin" / "python"
        installed = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('azure-cli'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        checked = datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")
        (self.config_dir / "versionCheck.json").write_text(
            f'{{"versions": {{"azure-cli": {{"local": "{installed}"}}, "core": {{"local": "{installed}"}}}}, '
            f'"update_time": "{checked}"}}'
        )
        url = self.emulator.url
        for args in (
            (
                "cloud", "register", "--name", "emulator", "--endpoint-active-directory", url,
                "--endpoint-resource-manager", url,
                "--endpoint-active-directory-resource-id", "https://management.core.windows.net/",
                "--endpoint-microsoft-graph-resource-id", "https://graph.microsoft.com/",
                "--skip-endpoint-discovery",
            ),
            ("cloud", "set", "--name", "emulator"),
            (
                "login", "--service-principal", "--username", client_id, "--password", secret, "--tenant", tenant,
                "--allow-no-subscriptions", "--skip-subscription-discovery", "--output", "none",
            ),
        ):  # fmt: skip
            done = self.az(*args)
            if done.returncode != 0:
                raise AssertionError(f"az {args[0]} {args[1]} failed: {done.stderr}")
