"""scripts/ensure-pulumi.sh when there is nothing to work with."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.paths import REPO

SCRIPT = REPO / "scripts" / "ensure-pulumi.sh"


def test_without_pulumi_or_go_it_says_what_to_install(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "neither pulumi (>= 3.227.0) nor go is on PATH: install Pulumi" in done.stderr
