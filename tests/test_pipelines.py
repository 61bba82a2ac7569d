"""The CI definitions: linted, schema-checked, wired as the README says, and run where they can be.

- .github/workflows: actionlint and zizmor (offline, default persona) find nothing; every action
  is pinned to a release commit; the per-stack jobs take their matrix from the `matrix` job.
- azure-pipelines.yml, .gitlab-ci.yml and the workflows pass their vendored JSON schemas.
- The matrix steps of GitHub Actions and Azure Pipelines, run as written in the YAML, list every
  stack of stacks/ (tenants resolved by the emulator) and fail the run when the fleet refuses.
- Every `pulumi …` and `python -m fleet …` command a pipeline runs is the one the README documents.
- GitLab's preview job runs under gitlab-ci-local (shell executor) against the emulator: it
  installs the program, keeps the runner's pulumi, signs in with the job's ID token and previews
  every stack without writing.

Tools come from scripts/ensure-tools.sh (actionlint, gitlab-ci-local) and requirements-dev.txt
(zizmor, check-jsonschema), so a fresh machine runs this module as it is.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
import yaml

from providers.tenant_names import is_guid
from tests.emulator import Emulator, Tenant
from tests.support.engine import copy_project
from tests.support.leaks import LeakCheck
from tests.support.paths import REPO
from tests.support.tools import ensure_tool

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.y*ml"))
GITHUB = REPO / ".github" / "workflows" / "pulumi.yml"
AZURE = REPO / "azure-pipelines.yml"
GITLAB = REPO / ".gitlab-ci.yml"
VENV_BIN = Path(sys.executable).parent  # zizmor and check-jsonschema (requirements-dev.txt)
# pip's cache as this run found it (the autouse fixture points XDG_CACHE_HOME at a fresh directory per test).
PIP_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pip"
SHELL_TIMEOUT = 600


def run(command: list[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing its output as text."""
    kwargs.setdefault("timeout", SHELL_TIMEOUT)
    return subprocess.run([str(part) for part in command], capture_output=True, text=True, check=False, **kwargs)


def load(path: Path) -> Any:
    """A YAML file. (GitHub's `on:` key loads as True under YAML 1.1; nothing here reads it by name.)"""
    return yaml.safe_load(path.read_text())


def venv_tool(name: str) -> Path:
    """An executable of the virtualenv running the tests."""
    tool = VENV_BIN / name
    if not tool.exists():
        pytest.fail(f"{tool} is missing: pip install -r requirements-dev.txt", pytrace=False)
    return tool


@pytest.fixture(scope="session")
def actionlint() -> Path:
    return ensure_tool("actionlint") / "actionlint"


@pytest.fixture(scope="session")
def gitlab_ci_local() -> Path:
    return ensure_tool("gitlab-ci-local") / "gitlab-ci-local"


@pytest.fixture(scope="session")
def pulumi_bin() -> Path:
    """The directory with `pulumi` (scripts/ensure-pulumi.sh builds it when absent)."""
    done = run([REPO / "scripts" / "ensure-pulumi.sh"], timeout=1800)
    if done.returncode != 0:
        pytest.fail(f"scripts/ensure-pulumi.sh failed:\n{done.stderr}", pytrace=False)
    return Path(done.stdout.strip().splitlines()[-1])


# -- what the GitHub workflow and the Azure pipeline are made of ---------------------------------------


def github_jobs() -> dict[str, Any]:
    return dict(load(GITHUB)["jobs"])


def azure_jobs() -> dict[str, Any]:
    return {job["job"]: job for job in load(AZURE)["jobs"]}


def step(steps: list[dict[str, Any]], key: str, value: str) -> dict[str, Any]:
    """The one step whose `key` is `value` (e.g. id: fleet)."""
    (found,) = [s for s in steps if s.get(key) == value]
    return found


def pulumi_action_steps(job: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@")]


def ado_script(job: Mapping[str, Any], *, name: str | None = None, runs: str | None = None) -> dict[str, Any]:
    """The job's one `bash:` step with this step name, or whose script contains `runs`."""
    steps: list[dict[str, Any]] = job["steps"]
    (found,) = [
        s for s in steps if "bash" in s and (name is None or s.get("name") == name) and (runs is None or runs in s["bash"])
    ]
    return found


# -- (a, b) the workflows lint clean, and the linters do catch what they are here for ----------------------

BROKEN_WORKFLOW = """\
name: broken
on: pull_request_target
jobs:
  greet:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"
"""


@pytest.mark.tools
def test_actionlint_finds_nothing_in_the_workflows(actionlint: Path) -> None:
    assert WORKFLOWS, "no workflow in .github/workflows"
    done = run([actionlint, "-no-color", *WORKFLOWS], cwd=REPO)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_zizmor_finds_nothing_in_the_workflows() -> None:
    done = run([venv_tool("zizmor"), "--offline", "--format", "json", REPO / ".github" / "workflows"], cwd=REPO)
    assert (done.returncode, json.loads(done.stdout)) == (0, []), done.stderr


@pytest.mark.tools
def test_the_linters_flag_a_broken_workflow(actionlint: Path, tmp_path: Path) -> None:
    """Guards the two tests above: the same invocations do report an injectable, unpinned workflow."""
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(BROKEN_WORKFLOW)
    linted = run([actionlint, "-no-color", broken], cwd=tmp_path)
    assert linted.returncode == 1
    assert "github.event.pull_request.title" in linted.stdout
    assert "untrusted" in linted.stdout
    audited = run([venv_tool("zizmor"), "--offline", "--format", "json", broken.parent], cwd=tmp_path)
    found = {finding["ident"] for finding in json.loads(audited.stdout)}
    assert {"template-injection", "unpinned-uses", "artipacked", "dangerous-triggers"} <= found
    assert audited.returncode != 0


def test_every_action_is_pinned_to_a_release_commit() -> None:
    """A full commit SHA with the release it is, as `# vX.Y.Z` (zizmor checks the SHA, not the comment)."""
    uses = [line.strip() for path in WORKFLOWS for line in path.read_text().splitlines() if "uses:" in line]
    assert uses
    pinned = re.compile(r"^(- )?uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
    assert [line for line in uses if not pinned.match(line)] == []


def test_every_pipeline_installs_the_pulumi_release_the_tests_run() -> None:
    match = re.search(r'PULUMI_VERSION="\$\{PULUMI_VERSION:-v([\d.]+)\}"', (REPO / "scripts" / "ensure-pulumi.sh").read_text())
    assert match
    version = match.group(1)
    actions = [s for job in github_jobs().values() for s in pulumi_action_steps(job)]
    assert len(actions) == 3
    assert {str(s["with"]["pulumi-version"]) for s in actions} == {version}
    assert str(load(AZURE)["variables"]["pulumiVersion"]) == version
    assert str(load(GITLAB)["variables"]["PULUMI_VERSION"]) == version


# -- (c) the schemas -----------------------------------------------------------------------------------


def check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    """Validate `path` against a schema check-jsonschema carries.

    The schemas' patterns are ECMAScript without the `u` flag (the Azure Pipelines schema's branch
    filter escapes `:`, which Unicode mode refuses, and check-jsonschema's default engine then
    stops with "Invalid character escape" instead of validating): hence `nonunicode`.
    """
    return run([venv_tool("check-jsonschema"), "--regex-variant", "nonunicode", "--builtin-schema", schema, path])


@pytest.mark.parametrize(
    ("schema", "path"),
    [
        *[("vendor.github-workflows", path) for path in WORKFLOWS],
        ("vendor.azure-pipelines", AZURE),
        ("vendor.gitlab-ci", GITLAB),
    ],
    ids=lambda value: value.name if isinstance(value, Path) else value,
)
def test_the_pipelines_match_their_schemas(schema: str, path: Path) -> None:
    done = check_jsonschema(schema, path)
    assert (done.returncode, done.stdout.strip()) == (0, "ok -- validation done"), done.stdout + done.stderr


@pytest.mark.parametrize(
    ("schema", "document", "error"),
    [
        (
            "vendor.github-workflows",
            {"on": "push", "jobs": {"x": {"steps": [{"run": "true"}]}}},
            "'runs-on' is a required property",
        ),
        ("vendor.azure-pipelines", {"schedules": [{"cron": "0 0 * * *", "always": True}], "steps": [{"bash": "true"}]}, "always"),
        ("vendor.gitlab-ci", {"preview": {"scripts": ["true"]}}, "preview"),
    ],
    ids=["github", "azure", "gitlab"],
)
def test_the_schema_check_refuses_a_broken_pipeline(schema: str, document: dict[str, Any], error: str, tmp_path: Path) -> None:
    """Guards the test above: the same check refuses what the CI system would refuse."""
    broken = tmp_path / "broken.yml"
    broken.write_text(yaml.safe_dump(document))
    done = check_jsonschema(schema, broken)
    assert done.returncode == 1, done.stdout + done.stderr
    assert error in done.stdout


# -- the jobs as the brief wants them: GitHub -----------------------------------------------------------


def test_github_runs_one_job_per_stack_from_the_matrix_job() -> None:
    jobs = github_jobs()
    assert jobs["matrix"]["outputs"] == {"matrix": "${{ steps.fleet.outputs.matrix }}"}
    assert load(GITHUB)["defaults"]["run"]["shell"] == "bash"
    conditions = {
        "preview": "github.event_name == 'pull_request'",
        "up": "github.event_name == 'push' && github.ref == 'refs/heads/main'",
        "drift": "github.event_name == 'schedule' || github.event_name == 'workflow_dispatch'",
    }
    for name, condition in conditions.items():
        job = jobs[name]
        assert job["if"] == condition
        assert job["needs"] == "matrix"
        assert job["strategy"] == {"fail-fast": False, "matrix": "${{ fromJSON(needs.matrix.outputs.matrix) }}"}
        assert job["environment"] == "${{ matrix.stack }}"  # the OIDC subject: repo:ORG/REPO:environment:<stack>
        assert job["permissions"]["id-token"] == "write"
        assert ("pull-requests" in job["permissions"]) == (name == "preview")
        assert job["env"] == {
            "ARM_USE_OIDC": "true",
            "PULUMI_BACKEND_URL": "${{ vars.PULUMI_BACKEND_URL }}",
            "PULUMI_CONFIG_PASSPHRASE": "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}",
        }
        (action,) = pulumi_action_steps(job)
        assert action["with"]["stack-name"] == "${{ matrix.stack }}"
    assert pulumi_action_steps(jobs["preview"])[0]["with"]["comment-on-pr"] is True
    assert pulumi_action_steps(jobs["drift"])[0]["with"]["expect-no-changes"] is True
    assert jobs["up"]["concurrency"] == {"group": "pulumi-up-${{ matrix.stack }}", "cancel-in-progress": False}
    for job in jobs.values():
        for checkout in (s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/checkout@")):
            assert checkout["with"]["persist-credentials"] is False


def test_azure_runs_one_job_per_stack_from_the_matrix_job() -> None:
    jobs = azure_jobs()
    assert ado_script(jobs["matrix"], name="fleet")
    for name in ("preview", "up", "drift"):
        job = jobs[name]
        assert job["dependsOn"] == "matrix"
        assert job["strategy"] == {"matrix": "$[ dependencies.matrix.outputs['fleet.legs'] ]"}
        reference = step(job["steps"], "task", "AzureCLI@2")  # Azure DevOps issues tokens for referenced connections only
        assert reference["inputs"]["azureSubscription"] == "${{ variables.serviceConnection }}"
        env = ado_script(job, runs='--stack "$STACK"')["env"]
        assert env["STACK"] == "$(stack)"  # the leg's variable
        assert env["ARM_USE_OIDC"] == "true"
        assert env["ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID"] == "$(serviceConnectionId)"
        assert env["SYSTEM_ACCESSTOKEN"] == "$(System.AccessToken)"


# -- (d) every stack in stacks/ ends up in every matrix ------------------------------------------------------


def repo_stacks() -> dict[str, dict[str, Any]]:
    """stacks/Pulumi.NAME.yaml → its config, for every stack of the repository."""
    stacks = {
        path.name.removeprefix("Pulumi.").removesuffix(".yaml"): dict(load(path)["config"])
        for path in sorted((REPO / "stacks").glob("Pulumi.*.yaml"))
    }
    assert stacks, "no stack in stacks/"
    return stacks


def fleet_project(root: Path, emulator: Emulator, stacks: Mapping[str, Mapping[str, Any]]) -> Path:
    """A copy of the project whose stacks are `stacks`, each resolved by the emulator (the repo's .venv)."""
    copy_project(root)
    for name, config in stacks.items():
        config = {**config, "bitlocker-policy:authorityHost": emulator.url}
        (root / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}))
    return root


@pytest.fixture(scope="module")
def stacks_emulator() -> Iterator[Emulator]:
    """An emulator of this module's own (its tenants carry the repo stacks' own GUIDs and domains)."""
    with Emulator() as emulator:
        yield emulator


@pytest.fixture(scope="module")
def repo_fleet(stacks_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The repo's stacks/, each tenant living in the emulator; and stack → tenant GUID."""
    guids: dict[str, str] = {}
    stacks = repo_stacks()
    for name, config in stacks.items():
        declared = str(config["azuread:tenantId"])
        if is_guid(declared):
            tenant = stacks_emulator.add_tenant(tenant_id=declared)
        else:
            tenant = stacks_emulator.add_tenant(domain=declared)
        guids[name] = tenant.id
    return fleet_project(tmp_path_factory.mktemp("repo-fleet") / "project", stacks_emulator, stacks), guids


def step_env(emulator: Emulator, **extra: str) -> dict[str, str]:
    return {**os.environ, "SSL_CERT_FILE": str(emulator.ca_path), **extra}


def run_github_matrix_step(project: Path, emulator: Emulator, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], str]:
    """The matrix job's `fleet` step as the runner runs `shell: bash`; its exit and $GITHUB_OUTPUT."""
    script = tmp_path / "github-step.sh"
    script.write_text(step(github_jobs()["matrix"]["steps"], "id", "fleet")["run"])
    output = tmp_path / "github-output"
    output.touch()
    done = run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", script],
        cwd=project,
        env=step_env(emulator, GITHUB_OUTPUT=str(output)),
    )
    return done, output.read_text()


def run_azure_matrix_step(project: Path, emulator: Emulator, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The matrix job's `fleet` step as the agent runs a `bash:` step."""
    script = tmp_path / "azure-step.sh"
    script.write_text(ado_script(azure_jobs()["matrix"], name="fleet")["bash"])
    return run(["bash", "--noprofile", "--norc", script], cwd=project, env=step_env(emulator))


def github_outputs(text: str) -> dict[str, str]:
    """$GITHUB_OUTPUT's `name=value` lines (and `name<<DELIMITER` blocks)."""
    outputs: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            outputs[name] = "\n".join(iter(lambda: next(lines), delimiter))
        elif line:
            name, value = line.split("=", 1)
            outputs[name] = value
    return outputs


def azure_output(stdout: str, variable: str) -> str:
    """The value an output variable was set to with ##vso[task.setvariable …;isOutput=true]."""
    prefix = f"##vso[task.setvariable variable={variable};isOutput=true]"
    (value,) = [line.removeprefix(prefix) for line in stdout.splitlines() if line.startswith(prefix)]
    return value


def test_github_matrix_lists_every_stack_of_the_repo(
    repo_fleet: tuple[Path, dict[str, str]], stacks_emulator: Emulator, tmp_path: Path
) -> None:
    project, guids = repo_fleet
    done, output = run_github_matrix_step(project, stacks_emulator, tmp_path)
    assert done.returncode == 0, done.stderr
    matrix = json.loads(github_outputs(output)["matrix"])  # what fromJSON(needs.matrix.outputs.matrix) reads
    assert {row["stack"]: row["tenant"] for row in matrix["include"]} == guids
    assert set(matrix) == {"include"}


def test_azure_matrix_lists_every_stack_of_the_repo_as_legs(
    repo_fleet: tuple[Path, dict[str, str]], stacks_emulator: Emulator, tmp_path: Path
) -> None:
    project, guids = repo_fleet
    done = run_azure_matrix_step(project, stacks_emulator, tmp_path)
    assert done.returncode == 0, done.stderr
    legs = json.loads(azure_output(done.stdout, "legs"))
    assert {leg["stack"] for leg in legs.values()} == set(guids)
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", name) for name in legs), legs
    # The legs object is a matrix Azure Pipelines accepts: its schema limits leg names to [A-Za-z0-9_].
    pipeline = tmp_path / "legs-pipeline.yml"
    pipeline.write_text(yaml.safe_dump({"jobs": [{"job": "leg", "strategy": {"matrix": legs}, "steps": [{"bash": "true"}]}]}))
    checked = check_jsonschema("vendor.azure-pipelines", pipeline)
    assert checked.returncode == 0, checked.stdout


def test_azure_matrix_refuses_two_stacks_that_make_one_leg_name(stacks_emulator: Emulator, tmp_path: Path) -> None:
    stacks = {name: {"azuread:tenantId": stacks_emulator.add_tenant().id} for name in ("eu-west", "eu_west")}
    done = run_azure_matrix_step(fleet_project(tmp_path / "project", stacks_emulator, stacks), stacks_emulator, tmp_path)
    assert done.returncode != 0
    assert "stacks eu-west and eu_west both make the leg eu_west: rename one" in done.stderr
    assert "##vso[task.setvariable" not in done.stdout


@pytest.mark.parametrize("pipeline", ["github", "azure"])
def test_a_matrix_step_fails_the_run_when_two_stacks_share_a_tenant(
    pipeline: str, stacks_emulator: Emulator, tmp_path: Path
) -> None:
    tenant = stacks_emulator.add_tenant()
    stacks = {"prod": {"azuread:tenantId": tenant.id}, "prod-again": {"azuread:tenantId": tenant.domain}}
    project = fleet_project(tmp_path / "project", stacks_emulator, stacks)
    if pipeline == "github":
        done, output = run_github_matrix_step(project, stacks_emulator, tmp_path)
        assert output == ""
    else:
        done = run_azure_matrix_step(project, stacks_emulator, tmp_path)
        assert "##vso[task.setvariable" not in done.stdout
    assert done.returncode == 2
    assert f"stacks prod, prod-again all manage tenant {tenant.id}" in done.stderr


# -- (e) the commands the pipelines run are the ones the README documents --------------------------------------

# pulumi/actions drives the Automation API, which runs `pulumi up --yes --skip-preview`, adds
# `--expect-no-changes` when asked and `--non-interactive` to every command
# (pulumi/pulumi sdk/nodejs/automation/stack.ts and cmd.ts, v3.274.1).
_ACTION_FLAGS = {"up": " --yes --skip-preview"}


def action_command(action: Mapping[str, Any]) -> str:
    """The CLI line one pulumi/actions step runs, with STACK for its stack."""
    inputs = action["with"]
    command = f"pulumi {inputs['command']} --stack STACK{_ACTION_FLAGS.get(inputs['command'], '')}"
    if inputs.get("expect-no-changes") is True:
        command += " --expect-no-changes"
    return command + " --non-interactive"


def shell_commands(script: str) -> list[str]:
    """`pulumi …` lines and `python -m fleet …` invocations of a shell script, $STACK spelled STACK."""
    commands = []
    for line in script.splitlines():
        line = line.strip()
        if line.startswith("pulumi "):
            commands.append(line.replace('"$STACK"', "STACK"))
        commands += [match.strip() for match in re.findall(r"([\w./-]*python3? -m fleet [^\"')#\n]*)", line)]
    return commands


def pipeline_commands() -> dict[str, set[str]]:
    """Per pipeline file, every pulumi and fleet command its jobs run."""
    github = set()
    for job in github_jobs().values():
        for s in job["steps"]:
            github.update(shell_commands(s.get("run", "")))
        github.update(action_command(action) for action in pulumi_action_steps(job))
    azure = {command for job in azure_jobs().values() for s in job["steps"] for command in shell_commands(s.get("bash", ""))}
    gitlab = {
        command
        for name, job in load(GITLAB).items()
        if isinstance(job, dict) and "script" in job
        for line in job["script"]
        for command in shell_commands(line)
    }
    return {"github": github, "azure": azure, "gitlab": gitlab}


def readme_from_ci() -> str:
    """README's "### From CI" section, up to the next heading."""
    text = (REPO / "README.md").read_text()
    start = text.index("\n### From CI\n")
    end = re.compile(r"^#{2,3} ", re.MULTILINE).search(text, start + 2)
    return text[start : end.start() if end else len(text)]


def test_the_readme_documents_every_command_the_pipelines_run() -> None:
    commands = pipeline_commands()
    assert commands["github"] >= {
        ".venv/bin/python -m fleet matrix",
        "pulumi preview --stack STACK --non-interactive",
        "pulumi up --stack STACK --yes --skip-preview --non-interactive",
        "pulumi preview --stack STACK --expect-no-changes --non-interactive",
    }
    assert commands["github"] == commands["azure"]  # the same jobs, step for step
    assert {c.split()[3] for c in commands["gitlab"]} == {"preview", "up", "drift"}
    section = readme_from_ci()
    undocumented = sorted(c for found in commands.values() for c in found if c not in section)
    assert undocumented == []


# -- (f) GitLab's preview job, run by gitlab-ci-local against the emulator --------------------------------------

# GitLab's default `sub` (docs.gitlab.com/ci/secrets/id_token_authentication): a merge request's
# pipeline runs on its source branch; the stacks were deployed from main.
GITLAB_SUBJECT = "project_path:contoso/bitlocker-policy:ref_type:branch:ref:block-self-service"
MAIN_SUBJECT = "project_path:contoso/bitlocker-policy:ref_type:branch:ref:main"


def project_copy(root: Path) -> Path:
    """The project as a GitLab runner checks it out: its files and the pipeline, no stacks, no virtualenv."""
    return copy_project(root, venv=False, extra=(".gitlab-ci.yml",))


def gitlab_stack(emulator: Emulator, tenant: Tenant) -> dict[str, Any]:
    """A stack file for `tenant`, whose app trusts the GitLab job's ID token (no credential in the file)."""
    app = tenant.add_app()
    app.federated_subjects.update({GITLAB_SUBJECT, MAIN_SUBJECT})
    return {
        "config": {
            "azuread:tenantId": tenant.id,
            "azuread:clientId": app.client_id,
            "bitlocker-policy:graphEndpoint": emulator.url,
            "bitlocker-policy:authorityHost": emulator.url,
            "bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice": "false",
            "bitlocker-policy:consistencyWindowSeconds": "0",
        }
    }


def federated_subjects(emulator: Emulator, tenant: Tenant) -> list[str]:
    """The `sub` of every client assertion Entra was shown for `tenant` (answered 200)."""
    subjects = []
    for request in emulator.token_requests(tenant):
        form = parse_qs(request.body.decode())
        if request.status == 200 and "client_assertion" in form:
            subjects.append(jwt.decode(form["client_assertion"][0], options={"verify_signature": False})["sub"])
    return subjects


@pytest.mark.engine
@pytest.mark.tools
def test_gitlab_preview_job_previews_every_stack_with_the_jobs_id_token(
    gitlab_ci_local: Path, pulumi_bin: Path, tmp_path: Path
) -> None:
    with Emulator() as emulator:
        converged, drifted = emulator.add_tenant(bitlocker=True), emulator.add_tenant(bitlocker=True)
        backend = tmp_path / "backend"
        backend.mkdir()
        env = {
            "PULUMI_BACKEND_URL": backend.as_uri(),
            "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(12),
            "PULUMI_HOME": str(tmp_path / "pulumi-home"),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "SSL_CERT_FILE": str(emulator.ca_path),
            "PATH": f"{pulumi_bin}{os.pathsep}{os.environ['PATH']}",
        }

        # Both stacks deployed (from a checkout with the tests' own virtualenv), then an admin
        # flips one tenant in the portal. The stack files, now with their encryption salt, go
        # into a fresh git repository as the MR's branch would have them.
        deployed = project_copy(tmp_path / "deployed")
        (deployed / ".venv").symlink_to(REPO / ".venv")
        for name, tenant in (("converged", converged), ("drifted", drifted)):
            (deployed / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(gitlab_stack(emulator, tenant)))
        up = run(
            [REPO / ".venv" / "bin" / "python", "-m", "fleet", "up"],
            cwd=deployed,
            env={**os.environ, **env, "ARM_USE_OIDC": "true", "ARM_OIDC_TOKEN": emulator.oidc_token(MAIN_SUBJECT)},
        )
        assert up.returncode == 0, up.stdout + up.stderr
        assert (converged.bitlocker, drifted.bitlocker) == (False, False)
        emulator.set_bitlocker(drifted, True)
        patches = len(emulator.graph_requests(method="PATCH"))

        repo = project_copy(tmp_path / "repo")
        for stack_file in (deployed / "stacks").iterdir():
            shutil.copy2(stack_file, repo / "stacks" / stack_file.name)
        git = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com"]
        for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "the merge request's branch"]):
            assert run([*git, *command], cwd=repo).returncode == 0

        # What GitLab would hand the job: an MR pipeline, its ID token, the CI/CD variables.
        variables = {
            **env,
            "CI_PIPELINE_SOURCE": "merge_request_event",
            "AZURE_ID_TOKEN": emulator.oidc_token(GITLAB_SUBJECT),
            "PIP_CACHE_DIR": str(PIP_CACHE),  # a runner's warm pip cache
        }
        job = run(
            [
                gitlab_ci_local,
                "--force-shell-executor",
                *[f"--variable={name}={value}" for name, value in variables.items()],
                "preview",
            ],
            cwd=repo,
            timeout=1200,
        )
        log = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", job.stdout + job.stderr)  # colours, the progress display's moves

        assert "$ .venv/bin/python -m fleet preview --json fleet.json" in log, log
        assert f"> {pulumi_bin}/pulumi" in log, log  # the runner's pulumi: nothing downloaded
        # Exit 3, changes pending, is allowed: a warning, not a failure (gitlab-ci-local reports it so).
        assert re.search(r"preview finished in .* WARN 3", log), log
        report = json.loads((repo / ".gitlab-ci-local" / "artifacts" / "preview" / "fleet.json").read_text())
        assert report["exitCode"] == 3
        rows = {row["stack"]: row for row in report["stacks"]}
        assert (rows["converged"]["action"], rows["drifted"]["action"]) == ("none", "update"), report
        assert (rows["converged"]["tenant"], rows["drifted"]["tenant"]) == (converged.id, drifted.id)
        # Signed in with the job's ID token in both tenants, and wrote nothing.
        assert GITLAB_SUBJECT in federated_subjects(emulator, converged)
        assert GITLAB_SUBJECT in federated_subjects(emulator, drifted)
        assert len(emulator.graph_requests(method="PATCH")) == patches
        assert (converged.bitlocker, drifted.bitlocker) == (False, True)

        # Nothing the job held leaked into what it printed or left: state, artifacts, logs.
        check = LeakCheck(roots=[backend, deployed, repo / ".gitlab-ci-local", tmp_path / "pulumi-home"])
        check.secrets |= emulator.credentials()
        check.add_secret(env["PULUMI_CONFIG_PASSPHRASE"], "the stacks' passphrase")
        check.printed("python -m fleet up", up.stdout + up.stderr)
        check.printed("gitlab-ci-local preview", job.stdout + job.stderr)
        assert not check.findings(), check.findings()
