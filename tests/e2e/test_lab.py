"""`make lab`: the emulator with a fleet of tenants, started as a user starts it, the fleet run against it, and
`play` acting as the tenants' people (an admin in the portal, a user reading a key, an exception's expiry)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.paths import REPO
from tests.support.processes import stop

pytestmark = pytest.mark.engine  # the drifted tenant's stack is read (and `up`) through the CLI


@pytest.fixture
def lab(tmp_path: Path, pulumi_bin: str) -> Iterator[tuple[Path, dict[str, str], str]]:
    """`python -m emulator --lab 5`: its directory, the environment lab.env sets, and what it printed."""
    directory = tmp_path / "lab"
    log = tmp_path / "lab.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "emulator", "--lab", "5", "--dir", str(directory), "--port", "0"],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while "emulator ready" not in log.read_text():
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            exported = dict(
                shlex.split(line.removeprefix("export "))[0].split("=", 1)
                for line in (directory / "lab.env").read_text().splitlines()
            )
            env = {**os.environ, **exported, "PATH": f"{pulumi_bin}{os.pathsep}{os.environ['PATH']}"}
            env["PULUMI_HOME"] = str(tmp_path / "pulumi-home")
            yield directory, env, log.read_text()
        finally:
            stop(server)


def test_the_lab_starts_a_fleet_and_the_fleet_finds_what_it_holds(lab: tuple[Path, dict[str, str], str]) -> None:
    directory, env, printed = lab
    assert f"python -m fleet drift --project {directory}" in printed
    assert f"python -m emulator play --dir {directory} set customer-04-converged true --as " in printed
    assert "ARM_CLIENT_SECRET" not in printed  # in lab.env, not on the screen

    def play(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "emulator", "play", "--dir", str(directory), *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return done.stdout

    def fleet(*args: str, code: int) -> dict[str, dict[str, object]]:
        done = subprocess.run(
            [sys.executable, "-m", "fleet", *args, "--project", str(directory), "--json", "-"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        assert done.returncode == code, done.stdout + done.stderr
        return {row["stack"]: row for row in json.loads(done.stdout)["stacks"]}

    drift = fleet("drift", code=3)
    assert {name: row["action"] for name, row in drift.items()} == {
        "customer-01-drifted": "update",
        "customer-02-read-only": "update",
        "customer-03-throttled": "none",  # after the retries Retry-After asked for
        "customer-04-converged": "none",
        "customer-05-excepted": "none",
    }
    assert str(drift["customer-05-excepted"]["warning"]).startswith("stack customer-05-excepted's exception expires in 20 days")
    assert str(drift["customer-01-drifted"]["changed"]).startswith("changed by it-admin@customer01.onmicrosoft.com")
    fixed = fleet("up", "--only-drifted", code=4)  # the read-only tenant cannot be written
    assert fixed["customer-01-drifted"]["requestId"]
    assert str(fixed["customer-01-drifted"]["changed"]).startswith("changed by it-admin@")  # drift's word, kept
    assert "Policy.ReadWrite.Authorization" in str(fixed["customer-02-read-only"]["error"])
    after = fleet("drift", code=3)
    assert (after["customer-01-drifted"]["action"], after["customer-02-read-only"]["action"]) == ("none", "update")

    # The tenants' people, as the README's quickstart plays them.
    admin, user = "alice.admin@customer04.onmicrosoft.com", "megan@customer04.onmicrosoft.com"
    assert f"{admin} set allowedToReadBitlockerKeysForOwnedDevice to true" in play(
        "set", "customer-04-converged", "true", "--as", admin
    )
    assert f"{user} read the recovery key" in play("read-key", "customer-04-converged", "--as", user)
    assert "its exception now expires on" in play("expire", "customer-05-excepted", "-3")
    played = fleet("drift", code=5)  # the expired exception breaks the agreement: it outranks the difference
    assert played["customer-04-converged"]["action"] == "update"
    assert str(played["customer-04-converged"]["changed"]).startswith(f"changed by {admin}")
    assert "expired" in str(played["customer-05-excepted"]["violation"])
    exception = played["customer-05-excepted"]["exception"]
    assert isinstance(exception, dict)
    assert exception["daysLeft"] == -3

    # The pages, under the lab's provider: the expired exception said to be expired, the admin named.
    fleet("report", "--out", str(directory / "pages"), code=5)
    excepted = (directory / "pages" / "customer-05-excepted.html").read_text()
    assert "Lab Managed IT · help@lab-managed-it.example" in excepted
    assert '<img src="data:image/svg+xml;base64,' in excepted
    assert "expired 3 days ago" in excepted
    assert f"by {admin} at " in (directory / "pages" / "customer-04-converged.html").read_text()
