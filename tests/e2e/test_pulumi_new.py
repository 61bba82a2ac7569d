"""`pulumi new` from this repository gives a working project: proven offline with the real CLI.

The template is the repository as a clone holds it (its tracked files), as `pulumi new
https://github.com/ORG/REPO` would fetch it. `pulumi new` asks for Pulumi.yaml's `template:`
config, creates the stack, and installs the locked requirements into the project's .venv through
the language host's InstallDependencies; the new project then previews against the emulator.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from emulator import Emulator
from providers.config.settings import AUTHORITY_HOST, DESIRED_VALUE, GRAPH_ENDPOINT
from tests.support.engine import engine_env
from tests.support.leaks import LeakCheck
from tests.support.paths import REPO

pytestmark = pytest.mark.engine


def clone_of_this_repository(target: Path) -> Path:
    """The files a clone holds (tracked, and new ones git does not ignore), copied to `target`."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO,
            capture_output=True,
            check=True,
            timeout=60,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)
    return target


def test_pulumi_new_from_this_repository_gives_a_project_that_previews(
    pulumi_bin: str, pulumi_home: Path, tmp_path: Path, emulator: Emulator, leaks: LeakCheck
) -> None:
    template = clone_of_this_repository(tmp_path / "template")
    tenant = emulator.add_tenant(bitlocker=True)
    app = tenant.add_app()
    env = {**engine_env(pulumi_bin, pulumi_home, tmp_path / "backend", emulator), "ARM_CLIENT_SECRET": app.add_secret()}
    leaks.add_secret(env["PULUMI_CONFIG_PASSPHRASE"], "the stack's passphrase")
    project = tmp_path / "new"
    leaks.roots += [project / "stacks", tmp_path / "backend"]

    def pulumi(*args: str, cwd: Path = tmp_path) -> str:
        done = subprocess.run(
            ["pulumi", *args, "--non-interactive"], cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=900
        )
        leaks.printed(f"pulumi {args[0]}", done.stdout + done.stderr)
        assert done.returncode == 0, f"pulumi {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout + done.stderr

    pulumi(
        "new",
        str(template),
        "--dir",
        str(project),
        "--name",
        "bitlocker-policy",
        "--stack",
        "contoso",
        "--yes",
        "--secrets-provider",
        "passphrase",
        "--config",
        f"azuread:tenantId={tenant.domain}",
        "--config",
        f"azuread:clientId={app.client_id}",
    )  # the declared value takes the template's default, false
    assert (project / ".venv" / "bin" / "python").exists()  # the locked requirements, installed
    assert sorted(path.name for path in (project / "stacks").iterdir()) == ["Pulumi.contoso.yaml", "README.md"]
    for setting in (AUTHORITY_HOST, GRAPH_ENDPOINT):  # this machine's Entra and Graph: the emulator
        pulumi("config", "set", setting.key, emulator.url, "--stack", "contoso", cwd=project)
    assert f'{DESIRED_VALUE.key}: "false"' in (project / "stacks" / "Pulumi.contoso.yaml").read_text()

    previewed = pulumi("preview", "--stack", "contoso", cwd=project)
    assert "bitlocker-key-access" in previewed
    assert [r.method for r in emulator.graph_requests(tenant=tenant)] == ["GET"]  # read, nothing written
