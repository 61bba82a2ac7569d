"""Which stacks a fleet command runs: globs, stable shards, and what a change since a git ref touched."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from emulator import Emulator
from fleet.__main__ import main
from fleet.selection import changed_stacks, matching, parse_shard, shard_of
from fleet.stacks import StackFile, find_stacks

pytestmark = pytest.mark.usefixtures("trust_emulator")


def stacks(names: list[str]) -> list[StackFile]:
    return [StackFile(name, Path(f"stacks/Pulumi.{name}.yaml"), {}) for name in names]


def test_a_stack_keeps_its_shard_whatever_other_stacks_come_and_go() -> None:
    names = [f"customer-{i:03d}" for i in range(300)]
    before = {name: shard_of(name, 8) for name in names}
    after = {name: shard_of(name, 8) for name in [*names[50:], *(f"new-{i}" for i in range(100))]}
    assert all(after[name] == before[name] for name in names[50:])
    sizes = [list(before.values()).count(shard) for shard in range(1, 9)]
    assert min(sizes) > len(names) / 8 / 2  # a hash spreads names evenly enough: each shard above half the mean


def test_the_shards_partition_the_fleet() -> None:
    fleet = stacks([f"s{i}" for i in range(40)])
    parts = [matching(fleet, ["*"], (index, 4)) for index in range(1, 5)]
    assert sorted(stack.name for part in parts for stack in part) == sorted(stack.name for stack in fleet)


@pytest.mark.parametrize("text", ["0/4", "5/4", "a/4", "4", "1/0"])
def test_a_shard_is_i_of_n(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 -- the CLI turns it into its own message
        parse_shard(text)


def test_globs_are_repeatable_and_comma_separated(tmp_path: Path) -> None:
    fleet = stacks(["contoso-prod", "contoso-dev", "fabrikam-prod", "tailspin"])
    assert [s.name for s in matching(fleet, ["contoso-*", "tailspin"], None)] == ["contoso-prod", "contoso-dev", "tailspin"]


def git(project: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=project, check=True, capture_output=True
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository holding a project with three stacks, committed on `main`."""
    (tmp_path / "Pulumi.yaml").write_text("name: bitlocker-policy\nstackConfigDir: stacks\n")
    (tmp_path / "program.py").write_text("# the program\n")
    (tmp_path / "stacks").mkdir()
    for name in ("alpha", "bravo", "charlie"):
        (tmp_path / "stacks" / f"Pulumi.{name}.yaml").write_text("config: {}\n")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "base")
    git(tmp_path, "checkout", "-qb", "change")
    return tmp_path


def test_a_change_to_one_stack_file_previews_that_stack(repo: Path) -> None:
    (repo / "stacks" / "Pulumi.bravo.yaml").write_text("config:\n  a: b\n")
    git(repo, "commit", "-qam", "bravo")
    assert [s.name for s in changed_stacks(repo, "main", find_stacks(repo))] == ["bravo"]


@pytest.mark.parametrize("path", ["program.py", "Pulumi.yaml", "providers/graph/client.py", "requirements.txt", "fleet/run.py"])
def test_a_change_to_what_runs_every_stack_previews_them_all(repo: Path, path: str) -> None:
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    with (repo / path).open("a") as changed:
        changed.write("# changed\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "everything")
    assert len(changed_stacks(repo, "main", find_stacks(repo))) == 3


def test_an_unknown_ref_says_how_to_fetch_it(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["preview", "--project", str(repo), "--changed-since", "origin/nowhere"]) == 2
    assert "fetch the base branch first" in capsys.readouterr().err


def test_a_change_that_touches_no_stack_previews_nothing_and_succeeds(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "README.md").write_text("docs\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "docs")
    assert main(["preview", "--project", str(repo), "--changed-since", "main", "--json", "-"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["stacks"] == []
    assert "no stack to run" in captured.err


def test_the_sharded_matrix_lists_the_shards_that_hold_stacks(
    tmp_path: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: bitlocker-policy\nstackConfigDir: stacks\n")
    (tmp_path / "stacks").mkdir()
    names = [f"customer-{i}" for i in range(12)]
    for name in names:
        tenant = emulator.add_tenant()
        (tmp_path / "stacks" / f"Pulumi.{name}.yaml").write_text(
            f"config:\n  azuread:tenantId: {tenant.id}\n  bitlocker-policy:authorityHost: {emulator.url}\n"
        )
    assert main(["matrix", "--project", str(tmp_path), "--shards", "4"]) == 0
    legs = json.loads(capsys.readouterr().out)["include"]
    expected = {index: sum(shard_of(name, 4) == index for name in names) for index in range(1, 5)}
    assert legs == [{"shard": f"{index}/4", "stacks": size} for index, size in expected.items() if size]
    assert main(["matrix", "--project", str(tmp_path), "--shard", legs[0]["shard"]]) == 0
    one = json.loads(capsys.readouterr().out)["include"]
    assert len(one) == legs[0]["stacks"]


def test_a_pull_requests_matrix_holds_only_the_shards_of_the_stacks_it_changed(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for index, name in enumerate(("alpha", "bravo", "charlie")):  # tenants as GUIDs: resolved without a request
        (repo / "stacks" / f"Pulumi.{name}.yaml").write_text(f"config:\n  azuread:tenantId: {uuid.UUID(int=index + 1)}\n")
    git(repo, "commit", "-qam", "tenants")
    git(repo, "branch", "base")
    (repo / "stacks" / "Pulumi.bravo.yaml").write_text(f"config:\n  azuread:tenantId: {uuid.UUID(int=2)}\n  a: b\n")
    git(repo, "commit", "-qam", "bravo")
    assert main(["matrix", "--project", str(repo), "--shards", "8", "--changed-since", "base"]) == 0
    assert json.loads(capsys.readouterr().out) == {"include": [{"shard": f"{shard_of('bravo', 8)}/8", "stacks": 1}]}


def test_a_pull_request_adding_a_second_stack_for_a_tenant_fails_its_plan(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tenant = uuid.UUID(int=7)
    (repo / "stacks" / "Pulumi.alpha.yaml").write_text(f"config:\n  azuread:tenantId: {tenant}\n")
    for name in ("bravo", "charlie"):
        (repo / "stacks" / f"Pulumi.{name}.yaml").unlink()
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "alpha")
    git(repo, "branch", "base")
    (repo / "stacks" / "Pulumi.alpha-again.yaml").write_text(f"config:\n  azuread:tenantId: {tenant}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a second stack for alpha's tenant")
    assert main(["matrix", "--project", str(repo), "--shards", "4", "--changed-since", "base"]) == 2
    assert f"stacks alpha, alpha-again all manage tenant {tenant}" in capsys.readouterr().err
