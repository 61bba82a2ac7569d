"""The CI definitions: linted, schema-checked, wired as the README says, and run where they can be.

- .github: actionlint and zizmor (offline, default persona) find nothing; every action is pinned
  to a release commit; the shard jobs take their matrix from the `plan` job; only `up` holds the
  write app, behind the environment with required reviewers.
- azure-pipelines.yml, its step templates, .gitlab-ci.yml, the workflows and the local action
  pass their vendored JSON schemas (the AzureCLI@3 step, newer than the schema, as the
  AzureCLI@2 step it extends); every Azure job that signs in references its connection with
  allowNoSubscriptions and publishes its JUnit file and summary.
- The plan steps of GitHub Actions and Azure Pipelines, run as written in the YAML, list the
  shards of every stack of stacks/ (one shard for a pull request that changes one stack file)
  and fail the run when the fleet refuses.
- Every `python -m fleet …` command a pipeline runs is documented in the README, flag for flag.
- GitLab's preview job runs under gitlab-ci-local (shell executor) against the emulator: it
  installs the program, keeps the runner's pulumi, signs in with the job's ID token and the read
  app, previews the stacks the merge request changed without writing, and leaves its summary in
  the log and its JUnit file as a report.
- Converge without a commit: each template's manual run (GitHub's workflow_dispatch inputs, Azure's
  runtime parameters, GitLab's manual `converge` job) runs `up --only-drifted --stacks` behind the
  same approval as `up`; its plan and write steps, run as written, plan and converge only the named
  stacks; the scheduled drift step says whether remediation on schedule is on (off by default).

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

import pytest
import yaml
from click.testing import CliRunner

from emulator import Emulator, Tenant
from fleet.selection import shard_of
from providers.config.tenant_names import is_guid
from tests.support.emulated import assertion_subjects
from tests.support.engine import copy_project
from tests.support.leaks import LeakCheck
from tests.support.paths import REPO
from tests.support.tools import ensure_tool

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.y*ml"))
ACTIONS = sorted((REPO / ".github" / "actions").glob("*/action.yml"))
GITHUB = REPO / ".github" / "workflows" / "pulumi.yml"
AZURE = REPO / "azure-pipelines.yml"
AZURE_SETUP = REPO / ".azure-pipelines" / "fleet-setup.yml"
AZURE_REFERENCE = REPO / ".azure-pipelines" / "reference-connection.yml"
AZURE_STATE_SIGN_IN = REPO / ".azure-pipelines" / "state-sign-in.yml"
GITLAB = REPO / ".gitlab-ci.yml"
VENV_BIN = Path(sys.executable).parent  # zizmor (requirements-dev.txt)
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


# -- what the pipelines are made of ---------------------------------------------------------------------


def github_jobs() -> dict[str, Any]:
    return dict(load(GITHUB)["jobs"])


def azure_stages() -> dict[str, Any]:
    return {stage["stage"]: stage for stage in load(AZURE)["stages"]}


def azure_job(stage: str, job: str) -> dict[str, Any]:
    (found,) = [j for j in azure_stages()[stage]["jobs"] if j["job"] == job]
    return dict(found)


def azure_steps(job: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The job's steps with its step templates expanded, as Azure Pipelines compiles them."""
    steps: list[dict[str, Any]] = []
    for s in job["steps"]:
        if "template" not in s:
            steps.append(s)
            continue
        template = load(REPO / s["template"])
        text = yaml.safe_dump(template["steps"])
        for parameter in template.get("parameters", []):
            value = (s.get("parameters") or {}).get(parameter["name"], parameter.get("default"))
            text = text.replace("${{ parameters." + parameter["name"] + " }}", str(value))
        steps += yaml.safe_load(text)
    return steps


def step(steps: list[dict[str, Any]], key: str, value: str) -> dict[str, Any]:
    """The one step whose `key` is `value` (e.g. id: plan)."""
    (found,) = [s for s in steps if s.get(key) == value]
    return found


def ado_script(job: Mapping[str, Any], *, name: str | None = None, runs: str | None = None) -> dict[str, Any]:
    """The job's one `bash:` step with this step name, or whose script contains `runs`."""
    (found,) = [
        s
        for s in azure_steps(job)
        if "bash" in s and (name is None or s.get("name") == name) and (runs is None or runs in s["bash"])
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
    done = run([actionlint, "-no-color", *WORKFLOWS], cwd=REPO)  # it reads the local actions they use
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_zizmor_finds_nothing_in_the_workflows_and_actions() -> None:
    done = run([venv_tool("zizmor"), "--offline", "--format", "json", REPO / ".github"], cwd=REPO)
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
    audited = run([venv_tool("zizmor"), "--offline", "--format", "json", broken.parent.parent], cwd=tmp_path)
    found = {finding["ident"] for finding in json.loads(audited.stdout)}
    assert {"template-injection", "unpinned-uses", "artipacked", "dangerous-triggers"} <= found
    assert audited.returncode != 0


def test_every_action_is_pinned_to_a_release_commit() -> None:
    """A full commit SHA with the release it is, as `# vX.Y.Z` (zizmor checks the SHA, not the comment);
    the repository's own actions by their path."""
    uses = [line.strip() for path in [*WORKFLOWS, *ACTIONS] for line in path.read_text().splitlines() if "uses:" in line]
    assert uses
    pinned = re.compile(r"^(- )?uses: ([\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+|\./\.github/actions/[\w-]+)$")
    assert [line for line in uses if not pinned.match(line)] == []


def test_every_pipeline_installs_the_pulumi_release_the_tests_run() -> None:
    match = re.search(r'PULUMI_VERSION="\$\{PULUMI_VERSION:-v([\d.]+)\}"', (REPO / "scripts" / "ensure-pulumi.sh").read_text())
    assert match
    version = match.group(1)
    (setup,) = ACTIONS
    (install,) = [s for s in load(setup)["runs"]["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@")]
    assert str(install["with"]["pulumi-version"]) == version
    assert str(load(AZURE)["variables"]["pulumiVersion"]) == version
    assert str(load(GITLAB)["variables"]["PULUMI_VERSION"]) == version


# -- (c) the schemas -----------------------------------------------------------------------------------


def check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    """Validate `path` against a schema check-jsonschema carries: its command line, run in this process
    (a process of its own spent 0.4 s starting for each of a dozen checks; a schema read once is kept).

    The schemas' patterns are ECMAScript without the `u` flag (the Azure Pipelines schema's branch
    filter escapes `:`, which Unicode mode refuses, and check-jsonschema's default engine then
    stops with "Invalid character escape" instead of validating): hence `nonunicode`.
    """
    from check_jsonschema import main  # here: only these tests need its 0.5 s of imports

    args = ["--regex-variant", "nonunicode", "--builtin-schema", schema, str(path)]
    done = CliRunner().invoke(main, args)
    return subprocess.CompletedProcess(["check-jsonschema", *args], done.exit_code, done.stdout, done.stderr)


@pytest.mark.parametrize(
    ("schema", "path"),
    [
        *[("vendor.github-workflows", path) for path in WORKFLOWS],
        *[("vendor.github-actions", path) for path in ACTIONS],
        ("vendor.azure-pipelines", AZURE),
        ("vendor.azure-pipelines", AZURE_SETUP),
        ("vendor.azure-pipelines", AZURE_STATE_SIGN_IN),
        ("vendor.gitlab-ci", GITLAB),
    ],
    ids=lambda value: str(value.relative_to(REPO)) if isinstance(value, Path) else value,
)
def test_the_pipelines_match_their_schemas(schema: str, path: Path) -> None:
    done = check_jsonschema(schema, path)
    assert (done.returncode, done.stdout.strip()) == (0, "ok -- validation done"), done.stdout + done.stderr


def test_the_connection_reference_step_is_azurecli_3_without_subscriptions(tmp_path: Path) -> None:
    """Every reference step sets allowNoSubscriptions: AzureCLI@3 then skips `az account set`, which
    fails for an app with Graph permissions only (Tasks/AzureCLIV3/azureclitask.ts, loginAzureRM).

    The vendored schema predates AzureCLI@3 (microsoft/azure-pipelines-tasks#21229, 2025-12-15), so
    the step is checked as the AzureCLI@2 step it extends: the same inputs but allowNoSubscriptions.
    """
    template = load(AZURE_REFERENCE)
    (reference,) = template["steps"]
    assert reference["task"] == "AzureCLI@3"
    assert reference["inputs"]["allowNoSubscriptions"] is True
    inputs = {name: value for name, value in reference["inputs"].items() if name != "allowNoSubscriptions"}
    as_v2 = tmp_path / "as-azurecli-2.yml"
    as_v2.write_text(yaml.safe_dump({**template, "steps": [{**reference, "task": "AzureCLI@2", "inputs": inputs}]}))
    done = check_jsonschema("vendor.azure-pipelines", as_v2)
    assert done.returncode == 0, done.stdout


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


# -- the jobs: bounded, least privilege, results where each platform shows them ------------------------------


def test_github_runs_shards_of_the_fleet_and_only_up_can_write() -> None:
    jobs = github_jobs()
    assert load(GITHUB)["defaults"]["run"]["shell"] == "bash"
    assert jobs["plan"]["outputs"] == {"legs": "${{ steps.plan.outputs.legs }}", "count": "${{ steps.plan.outputs.count }}"}
    assert (jobs["preview"]["needs"], jobs["up"]["needs"]) == ("plan", ["plan", "drift"])  # drift: remediation on schedule
    for name in ("preview", "up"):
        job = jobs[name]
        assert "needs.plan.outputs.count != '0'" in job["if"]
        assert job["strategy"] == {"fail-fast": False, "matrix": "${{ fromJSON(needs.plan.outputs.legs) }}"}
    assert "fromJSON(needs.plan.outputs.count) > 1" in jobs["summary"]["if"]  # a lone shard reports for itself
    assert jobs["drift"].get("strategy") is None  # the daily check: one job for the whole fleet
    # One app per kind of job; the write app only behind the environment with required reviewers.
    apps = {name: job.get("env", {}).get("ARM_CLIENT_ID") for name, job in jobs.items()}
    assert apps == {
        "plan": None,
        "preview": "${{ vars.READ_CLIENT_ID }}",
        "up": "${{ vars.WRITE_CLIENT_ID }}",
        "summary": None,
        "drift": "${{ vars.READ_CLIENT_ID }}",
    }
    assert {name: job.get("environment") for name, job in jobs.items() if job.get("environment")} == {
        "preview": "tenants-read",
        "up": "tenants-write",
        "drift": "tenants-read",
    }
    assert {name for name, job in jobs.items() if job["permissions"].get("id-token") == "write"} == {"preview", "up", "drift"}
    assert {name for name, job in jobs.items() if "pull-requests" in job["permissions"]} == {"preview", "summary"}
    assert jobs["up"]["concurrency"] == {"group": "pulumi-up-${{ matrix.shard }}", "cancel-in-progress": False}
    for job in jobs.values():
        for checkout in (s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/checkout@")):
            assert checkout["with"]["persist-credentials"] is False


def test_azure_runs_shards_of_the_fleet_and_each_stage_references_its_connection() -> None:
    stages = azure_stages()
    assert set(stages) == {"plan", "preview", "up", "drift"}
    signing_in = {("preview", "shard"): "read", ("up", "shard"): "write", ("drift", "drift"): "read"}
    for (stage, job_name), app in signing_in.items():
        job = azure_job(stage, job_name)
        env = ado_script(job, runs="python -m fleet")["env"]
        assert env["ARM_CLIENT_ID"] == f"$({app}ClientId)"
        assert env["ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID"] == f"$({app}ConnectionId)"
        assert env["SYSTEM_ACCESSTOKEN"] == "$(System.AccessToken)"
        (reference,) = [s for s in azure_steps(job) if str(s.get("task", "")).startswith("AzureCLI@")]
        assert reference["inputs"]["azureSubscription"] == f"${{{{ variables.{app}Connection }}}}"
        assert reference["inputs"]["allowNoSubscriptions"] is True
        published = [s for s in azure_steps(job) if s.get("task") == "PublishTestResults@2"]
        assert [(s["inputs"]["testResultsFormat"], s["inputs"]["testResultsFiles"]) for s in published] == [
            ("JUnit", "fleet.xml")
        ]
        assert any("##vso[task.uploadsummary]" in s.get("bash", "") for s in azure_steps(job))
    for stage in ("preview", "up"):
        (shard,) = [j for j in stages[stage]["jobs"] if j["job"] == "shard"]
        assert shard["strategy"] == {"matrix": "$[ stageDependencies.plan.matrix.outputs['fleet.legs'] ]"}
    assert "BITLOCKER_POLICY_NOTIFY_URL" in ado_script(azure_job("up", "summary"), runs="fleet summary")["env"]


def test_gitlab_hands_the_id_token_over_in_a_script_and_only_up_can_write() -> None:
    pipeline = load(GITLAB)
    base = pipeline[".fleet"]
    # GitLab documents ID tokens in script, before_script and after_script only; a job variable
    # naming one is not documented to expand (docs.gitlab.com/ci/secrets/id_token_authentication).
    assert base["before_script"][0] == 'export ARM_OIDC_TOKEN="$AZURE_ID_TOKEN"'
    assert "AZURE_ID_TOKEN" not in yaml.safe_dump(base["variables"])
    assert base["artifacts"]["reports"] == {"junit": "fleet.xml"}
    apps = {name: pipeline[name]["variables"]["ARM_CLIENT_ID"] for name in ("preview", "up", "drift")}
    assert apps == {"preview": "$READ_CLIENT_ID", "up": "$WRITE_CLIENT_ID", "drift": "$READ_CLIENT_ID"}
    assert pipeline["up"]["environment"] == {"name": "tenants-write"}
    assert "parallel" not in pipeline["up"]  # a parallel job is a deployment of its own, approved on its own


# -- (d) the plan steps, run as written, list the shards of the repo's stacks -----------------------------------


def repo_stacks() -> dict[str, dict[str, Any]]:
    """examples/stacks/Pulumi.NAME.yaml → its config, for every example stack of the repository."""
    stacks = {
        path.name.removeprefix("Pulumi.").removesuffix(".yaml"): dict(load(path)["config"])
        for path in sorted((REPO / "examples" / "stacks").glob("Pulumi.*.yaml"))
    }
    assert stacks, "no stack in examples/stacks/"
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


def run_github_plan_step(
    project: Path, emulator: Emulator, tmp_path: Path, base_ref: str = "", stacks: str = "*"
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """The plan job's `plan` step as the runner runs `shell: bash`, with the workflow's env; its exit and outputs.

    `stacks` is what `inputs.stacks || '*'` gives: a manual converge's globs, else every stack."""
    script = tmp_path / "github-step.sh"
    script.write_text(step(github_jobs()["plan"]["steps"], "id", "plan")["run"])
    output = tmp_path / "github-output"
    output.write_text("")
    env = {name: str(value) for name, value in load(GITHUB)["env"].items() if "${{" not in str(value)}
    done = run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", script],
        cwd=project,
        env=step_env(emulator, GITHUB_OUTPUT=str(output), BASE_REF=base_ref, STACKS=stacks, **env),
    )
    return done, github_outputs(output.read_text())


def run_azure_plan_step(project: Path, emulator: Emulator, tmp_path: Path, stacks: str = "*") -> subprocess.CompletedProcess[str]:
    """The plan stage's `fleet` step as the agent runs a `bash:` step (a push, or a manual converge of `stacks`:
    the runtime parameter, whose default is every stack)."""
    script = tmp_path / "azure-step.sh"
    script.write_text(ado_script(azure_job("plan", "matrix"), name="fleet")["bash"])
    shards = str(load(AZURE)["variables"]["fleetShards"])
    env = step_env(emulator, FLEET_SHARDS=shards, STACKS=stacks)
    return run(["bash", "--noprofile", "--norc", script], cwd=project, env=env)


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


def expected_shards(names: Iterator[str] | list[str], count: int) -> list[str]:
    return sorted({f"{shard_of(name, count)}/{count}" for name in names})


def test_github_plan_lists_the_shards_of_every_stack_on_a_push(
    repo_fleet: tuple[Path, dict[str, str]], stacks_emulator: Emulator, tmp_path: Path
) -> None:
    project, guids = repo_fleet
    done, outputs = run_github_plan_step(project, stacks_emulator, tmp_path)
    assert done.returncode == 0, done.stderr
    legs = json.loads(outputs["legs"])["include"]  # what fromJSON(needs.plan.outputs.legs) reads
    shards = int(load(GITHUB)["env"]["FLEET_SHARDS"])
    assert sorted(leg["shard"] for leg in legs) == expected_shards(list(guids), shards)
    assert sum(leg["stacks"] for leg in legs) == len(guids)
    assert outputs["count"] == str(len(legs))


def test_github_plan_of_a_pull_request_that_changes_one_stack_is_one_shard(stacks_emulator: Emulator, tmp_path: Path) -> None:
    """Two jobs in all (plan, one preview; `summary` needs two shards): the brief's target for a PR."""
    origin, clone = tmp_path / "origin.git", tmp_path / "clone"
    stacks = {f"customer-{i}": {"azuread:tenantId": stacks_emulator.add_tenant().id} for i in range(12)}
    fleet_project(clone, stacks_emulator, stacks)
    git = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com"]
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "fleet"]):
        assert run([*git, *command], cwd=clone).returncode == 0
    assert run(["git", "clone", "-q", "--bare", clone, origin]).returncode == 0
    assert run(["git", "remote", "add", "origin", origin], cwd=clone).returncode == 0
    assert run(["git", "fetch", "-q", "origin"], cwd=clone).returncode == 0
    with (clone / "stacks" / "Pulumi.customer-7.yaml").open("a") as stack_file:
        stack_file.write("# the pull request's change\n")
    assert run([*git, "commit", "-qam", "customer-7"], cwd=clone).returncode == 0
    done, outputs = run_github_plan_step(clone, stacks_emulator, tmp_path, base_ref="main")
    assert done.returncode == 0, done.stderr
    shards = int(load(GITHUB)["env"]["FLEET_SHARDS"])
    assert json.loads(outputs["legs"]) == {"include": [{"shard": f"{shard_of('customer-7', shards)}/{shards}", "stacks": 1}]}
    assert outputs["count"] == "1"


def test_azure_plan_lists_the_shards_as_legs(
    repo_fleet: tuple[Path, dict[str, str]], stacks_emulator: Emulator, tmp_path: Path
) -> None:
    project, guids = repo_fleet
    done = run_azure_plan_step(project, stacks_emulator, tmp_path)
    assert done.returncode == 0, done.stderr
    legs = json.loads(azure_output(done.stdout, "legs"))
    shards = int(load(AZURE)["variables"]["fleetShards"])
    assert sorted(leg["shard"] for leg in legs.values()) == expected_shards(list(guids), shards)
    assert all(name == "shard_" + leg["shard"].replace("/", "_of_") for name, leg in legs.items())
    assert azure_output(done.stdout, "count") == str(len(legs))
    # The legs object is a matrix Azure Pipelines accepts: its schema limits leg names to [A-Za-z0-9_].
    pipeline = tmp_path / "legs-pipeline.yml"
    pipeline.write_text(yaml.safe_dump({"jobs": [{"job": "leg", "strategy": {"matrix": legs}, "steps": [{"bash": "true"}]}]}))
    checked = check_jsonschema("vendor.azure-pipelines", pipeline)
    assert checked.returncode == 0, checked.stdout


@pytest.mark.parametrize("pipeline", ["github", "azure"])
def test_a_plan_step_fails_the_run_when_two_stacks_share_a_tenant(
    pipeline: str, stacks_emulator: Emulator, tmp_path: Path
) -> None:
    tenant = stacks_emulator.add_tenant()
    stacks = {"prod": {"azuread:tenantId": tenant.id}, "prod-again": {"azuread:tenantId": tenant.domain}}
    project = fleet_project(tmp_path / "project", stacks_emulator, stacks)
    if pipeline == "github":
        done, outputs = run_github_plan_step(project, stacks_emulator, tmp_path)
        assert outputs == {}
    else:
        done = run_azure_plan_step(project, stacks_emulator, tmp_path)
        assert "##vso[task.setvariable" not in done.stdout
    assert done.returncode == 2
    assert f"stacks prod, prod-again all manage tenant {tenant.id}" in done.stderr


# -- (e) the commands the pipelines run are the ones the README documents --------------------------------------


def fleet_invocations(script: str) -> set[str]:
    """`python -m fleet COMMAND --flag …` of a shell script: the command and its flags, sorted, values left out."""
    joined = script.replace("\\\n", " ")
    found = set()
    for match in re.finditer(r"python3? -m fleet (\w[\w-]*)([^;|&\n]*)", joined):
        flags = sorted(set(re.findall(r"(?<!\S)(--[a-z][\w-]*)", match.group(2))))
        found.add(" ".join([f"python -m fleet {match.group(1)}", *flags]))
    return found


def pipeline_commands() -> dict[str, set[str]]:
    """Per pipeline file, every fleet command its jobs run, with their flags."""
    github = {c for job in github_jobs().values() for s in job["steps"] for c in fleet_invocations(s.get("run", ""))}
    azure = {
        c
        for stage in azure_stages().values()
        for job in stage["jobs"]
        for s in azure_steps(job)
        for c in fleet_invocations(s.get("bash", ""))
    }
    gitlab = {
        c
        for job in load(GITLAB).values()
        if isinstance(job, dict) and "script" in job
        for line in job["script"]
        for c in fleet_invocations(line)
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
    assert commands["github"] == {
        "python -m fleet matrix --shards --stacks",  # and --changed-since on a pull request, through "${since[@]}"
        "python -m fleet preview --changed-since --json --junit --markdown --shard",
        "python -m fleet up --json --junit --markdown --only-drifted --shard --stacks",  # --stacks: a manual converge's
        "python -m fleet summary --junit --markdown",
        "python -m fleet drift --json --junit --markdown",
    }
    assert commands["azure"] == (commands["github"] - {"python -m fleet summary --junit --markdown"}) | {
        "python -m fleet summary --markdown"
    }
    assert commands["gitlab"] == {
        "python -m fleet preview --changed-since --json --junit --markdown",
        "python -m fleet up --json --junit --markdown --notify --only-drifted",
        "python -m fleet up --json --junit --markdown --notify --only-drifted --stacks",  # the manual `converge` job
        "python -m fleet drift --json --junit --markdown --notify",
    }
    section = readme_from_ci()
    documented = fleet_invocations(section)
    undocumented = sorted(c for found in commands.values() for c in found if c not in documented)
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
    """A stack file for `tenant`: its tenant and endpoints, no app and no credential (the job names its app)."""
    return {
        "config": {
            "azuread:tenantId": tenant.id,
            "bitlocker-policy:graphEndpoint": emulator.url,
            "bitlocker-policy:authorityHost": emulator.url,
            "bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice": "false",
            "bitlocker-policy:consistencyWindowSeconds": "0",
        }
    }


@pytest.mark.engine
@pytest.mark.tools
def test_gitlab_preview_job_previews_the_changed_stacks_with_the_jobs_id_token_and_the_read_app(
    gitlab_ci_local: Path, pulumi_bin: str, tmp_path: Path
) -> None:
    with Emulator() as emulator:
        converged, drifted = emulator.add_tenant(bitlocker=True), emulator.add_tenant(bitlocker=True)
        provider = emulator.add_tenant()  # where the service provider registered its two apps
        read_app, write_app = provider.add_app(roles=()), provider.add_app(roles=())
        read_app.federated_subjects.add(GITLAB_SUBJECT)
        write_app.federated_subjects.add(MAIN_SUBJECT)
        for tenant in (converged, drifted):
            tenant.consent(read_app, ["Policy.Read.All"])
            tenant.consent(write_app)
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

        # Both stacks deployed by the write app (from a checkout with the tests' own virtualenv),
        # then an admin flips one tenant in the portal.
        deployed = project_copy(tmp_path / "deployed")
        (deployed / ".venv").symlink_to(REPO / ".venv")
        for name, tenant in (("converged", converged), ("drifted", drifted)):
            (deployed / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(gitlab_stack(emulator, tenant)))
        main_job = {"ARM_USE_OIDC": "true", "ARM_OIDC_TOKEN": emulator.oidc_token(MAIN_SUBJECT)}
        main_job["ARM_CLIENT_ID"] = write_app.client_id
        up = run([REPO / ".venv" / "bin" / "python", "-m", "fleet", "up"], cwd=deployed, env={**os.environ, **env, **main_job})
        assert up.returncode == 0, up.stdout + up.stderr
        assert (converged.bitlocker, drifted.bitlocker) == (False, False)
        emulator.set_bitlocker(drifted, True)
        patches = len(emulator.graph_requests(method="PATCH"))

        # The merge request adds the two stack files (with their encryption salt) to the base commit.
        repo = project_copy(tmp_path / "repo")
        git = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com"]
        for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "base"]):
            assert run([*git, *command], cwd=repo).returncode == 0
        base = run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()
        for stack_file in (deployed / "stacks").iterdir():
            shutil.copy2(stack_file, repo / "stacks" / stack_file.name)
        for command in (["add", "-A"], ["commit", "-qm", "the merge request's branch"]):
            assert run([*git, *command], cwd=repo).returncode == 0

        # What GitLab would hand the job: an MR pipeline, its ID token, the CI/CD variables.
        variables = {
            **env,
            "CI_PIPELINE_SOURCE": "merge_request_event",
            "CI_MERGE_REQUEST_DIFF_BASE_SHA": base,
            "AZURE_ID_TOKEN": emulator.oidc_token(GITLAB_SUBJECT),
            "READ_CLIENT_ID": read_app.client_id,
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

        assert '$ export ARM_OIDC_TOKEN="$AZURE_ID_TOKEN"' in log, log  # handed over in a script
        assert '.venv/bin/python -m fleet preview --changed-since "$CI_MERGE_REQUEST_DIFF_BASE_SHA"' in log, log
        assert "<!-- bitlocker-policy fleet summary -->" in log  # the Markdown summary, in the job log
        assert "2 stacks: 1 converged, 1 would change (exit code 3)." in log
        assert f"> {pulumi_bin}/pulumi" in log, log  # the runner's pulumi: nothing downloaded
        # Exit 3, changes pending, is allowed: a warning, not a failure (gitlab-ci-local reports it so).
        assert re.search(r"preview finished in .* WARN 3", log), log
        report = json.loads((repo / ".gitlab-ci-local" / "artifacts" / "preview" / "fleet.json").read_text())
        assert report["exitCode"] == 3
        rows = {row["stack"]: row for row in report["stacks"]}
        assert (rows["converged"]["action"], rows["drifted"]["action"]) == ("none", "update"), report
        assert (rows["converged"]["tenant"], rows["drifted"]["tenant"]) == (converged.id, drifted.id)
        junit = (repo / "fleet.xml").read_text()  # artifacts:reports:junit, which gitlab-ci-local copies back
        assert 'failures="1"' in junit
        # Signed in with the job's ID token and the read app in both tenants, and wrote nothing.
        for tenant in (converged, drifted):
            assert GITLAB_SUBJECT in assertion_subjects(emulator, tenant)
            asked = [parse_qs(r.body.decode()).get("client_id") for r in emulator.token_requests(tenant) if r.status == 200]
            assert asked[-1] == [read_app.client_id]
        assert len(emulator.graph_requests(method="PATCH")) == patches
        assert (converged.bitlocker, drifted.bitlocker) == (False, True)

        # Nothing the job held leaked into what it printed or left: state, artifacts, logs.
        check = LeakCheck(roots=[backend, deployed, repo / ".gitlab-ci-local", tmp_path / "pulumi-home"])
        check.secrets |= emulator.credentials()
        check.add_secret(env["PULUMI_CONFIG_PASSPHRASE"], "the stacks' passphrase")
        check.printed("python -m fleet up", up.stdout + up.stderr)
        check.printed("gitlab-ci-local preview", job.stdout + job.stderr)
        assert not check.findings(), check.findings()


@pytest.mark.engine
@pytest.mark.tools
def test_gitlab_converge_job_converges_the_stacks_named_on_its_run_page_with_the_write_app(
    gitlab_ci_local: Path, pulumi_bin: str, tmp_path: Path
) -> None:
    """The manual `converge` job of a default-branch pipeline, run with CONVERGE_STACKS as its Run page
    sets it: the named stack's tenant converges (its stack created in the backend), the other keeps
    its drift, and only the write app signed in, with the main branch's ID token."""
    with Emulator() as emulator:
        named, other = emulator.add_tenant(bitlocker=True), emulator.add_tenant(bitlocker=True)
        provider = emulator.add_tenant()
        write_app = provider.add_app(roles=())
        write_app.federated_subjects.add(MAIN_SUBJECT)
        for tenant in (named, other):
            tenant.consent(write_app)
        repo = project_copy(tmp_path / "repo")
        for name, tenant in (("named", named), ("other", other)):
            (repo / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(gitlab_stack(emulator, tenant)))
        git = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com"]
        for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "main"]):
            assert run([*git, *command], cwd=repo).returncode == 0
        backend = tmp_path / "backend"
        backend.mkdir()
        variables = {
            "PULUMI_BACKEND_URL": backend.as_uri(),
            "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(12),
            "PULUMI_HOME": str(tmp_path / "pulumi-home"),
            "SSL_CERT_FILE": str(emulator.ca_path),
            "PATH": f"{pulumi_bin}{os.pathsep}{os.environ['PATH']}",
            "AZURE_ID_TOKEN": emulator.oidc_token(MAIN_SUBJECT),
            "WRITE_CLIENT_ID": write_app.client_id,
            "CONVERGE_STACKS": "named",  # what the job's Run page sets
            "PIP_CACHE_DIR": str(PIP_CACHE),
        }
        job = run(
            [gitlab_ci_local, "--force-shell-executor", *[f"--variable={k}={v}" for k, v in variables.items()], "converge"],
            cwd=repo,
            timeout=1200,
        )
        log = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", job.stdout + job.stderr)
        assert '.venv/bin/python -m fleet up --only-drifted --stacks "$CONVERGE_STACKS"' in log, log
        report = json.loads((repo / ".gitlab-ci-local" / "artifacts" / "converge" / "fleet.json").read_text())
        assert [(row["stack"], row["status"]) for row in report["stacks"]] == [("named", "changed")], report
        assert (named.bitlocker, other.bitlocker) == (False, True)
        asked = [parse_qs(r.body.decode()).get("client_id") for r in emulator.token_requests(named) if r.status == 200]
        assert asked
        assert {str(client) for client in asked} == {str([write_app.client_id])}
        assert MAIN_SUBJECT in assertion_subjects(emulator, named)


# -- (g) the pull-request / merge-request job of each pipeline, its step logic run as written ----------------------
# A pull request adds one stack: one that breaks the baseline rule (declares true, Pulumi.yaml's
# baseline is false, no exception) fails the job; an ordinary pending change (declares the
# baseline, its tenant allows) passes it with its summary.
PR_CASES = {
    "breaks the baseline rule": ("true", False),
    "an ordinary pending change": ("false", True),
}


def pull_request_repo(root: Path, emulator: Emulator, tenant: Tenant, declared: str) -> Path:
    """A clone whose origin/main holds the project and whose HEAD adds the stack `customer` for `tenant`."""
    origin, clone = root / "origin.git", root / "clone"
    copy_project(clone)
    git = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com"]
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "base"]):
        assert run([*git, *command], cwd=clone).returncode == 0
    assert run(["git", "clone", "-q", "--bare", clone, origin]).returncode == 0
    assert run(["git", "remote", "add", "origin", origin], cwd=clone).returncode == 0
    assert run(["git", "fetch", "-q", "origin"], cwd=clone).returncode == 0
    config = {
        "azuread:tenantId": tenant.id,
        "bitlocker-policy:graphEndpoint": emulator.url,
        "bitlocker-policy:authorityHost": emulator.url,
        "bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice": declared,
    }
    (clone / "stacks" / "Pulumi.customer.yaml").write_text(yaml.safe_dump({"config": config}))
    for command in (["add", "-A"], ["commit", "-qm", "the pull request"]):
        assert run([*git, *command], cwd=clone).returncode == 0
    return clone


def pull_request_job(pipeline: str, repo: Path, env: dict[str, str], tmp_path: Path) -> tuple[bool, int, str]:
    """The pipeline's PR/MR preview step, run as its platform runs it: (whether the job passes, the fleet's
    exit code, the job's log and summary)."""
    script = tmp_path / f"{pipeline}-preview.sh"
    shard = f"{shard_of('customer', 4)}/4"
    if pipeline == "github":
        script.write_text(step(github_jobs()["preview"]["steps"], "name", "python -m fleet preview")["run"])
        summary = tmp_path / "step-summary.md"
        summary.write_text("")
        shell = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]  # `shell: bash`
        done = run(
            [*shell, script], cwd=repo, env={**env, "SHARD": shard, "BASE_REF": "main", "GITHUB_STEP_SUMMARY": str(summary)}
        )
        passed, log = done.returncode == 0, done.stdout + done.stderr + summary.read_text()
    elif pipeline == "azure":
        script.write_text(ado_script(azure_job("preview", "shard"), runs="fleet preview")["bash"])
        done = run(
            ["bash", "--noprofile", "--norc", script], cwd=repo, env={**env, "SHARD": shard, "TARGET_BRANCH": "refs/heads/main"}
        )
        passed, log = done.returncode == 0, done.stdout + done.stderr + (repo / "fleet.md").read_text()
    else:
        job = load(GITLAB)["preview"]
        script.write_text("\n".join(job["script"]))
        base = run(["git", "rev-parse", "origin/main"], cwd=repo).stdout.strip()
        done = run(["bash", "--noprofile", "--norc", "-e", script], cwd=repo, env={**env, "CI_MERGE_REQUEST_DIFF_BASE_SHA": base})
        # docs.gitlab.com/ci/yaml/#allow_failureexit_codes: a job whose exit code is listed is allowed to
        # fail (a warning; the pipeline passes); any other non-zero code fails it.
        passed = done.returncode in (0, *job["allow_failure"]["exit_codes"])
        log = done.stdout + done.stderr
    code = json.loads((repo / "fleet.json").read_text())["exitCode"]
    return passed, code, log


@pytest.mark.engine
@pytest.mark.parametrize("pipeline", ["github", "azure", "gitlab"])
@pytest.mark.parametrize("case", list(PR_CASES))
def test_a_pull_request_that_breaks_the_baseline_rule_fails_its_job_and_a_pending_change_passes(
    pipeline: str, case: str, pulumi_bin: str, stacks_emulator: Emulator, tmp_path: Path
) -> None:
    declared, passes = PR_CASES[case]
    tenant = stacks_emulator.add_tenant(bitlocker=True)
    app = tenant.add_app(roles=("Policy.Read.All",))
    repo = pull_request_repo(tmp_path, stacks_emulator, tenant, declared)
    backend = tmp_path / "backend"
    backend.mkdir()
    env = step_env(
        stacks_emulator,
        PATH=f"{pulumi_bin}{os.pathsep}{os.environ['PATH']}",
        PULUMI_BACKEND_URL=backend.as_uri(),
        PULUMI_CONFIG_PASSPHRASE="not a secret",
        PULUMI_HOME=str(tmp_path / "pulumi-home"),
        PULUMI_SKIP_UPDATE_CHECK="true",
        ARM_CLIENT_ID=app.client_id,
        ARM_CLIENT_SECRET=app.add_secret(),
    )
    passed, code, log = pull_request_job(pipeline, repo, env, tmp_path)
    assert (passed, code) == (passes, 3 if passes else 5), log
    said = "0 converged, 1 would change (exit code 3)" if passes else "1 breaks the baseline rule, 0 converged (exit code 5)"
    assert f"1 stack: {said}." in log, log  # either way, the run's summary says why


# -- (h) converge without a commit: a manual run of `up --only-drifted --stacks`, behind the write approval --------


def test_each_template_converges_by_hand_behind_the_same_approval_as_up() -> None:
    """GitHub: workflow_dispatch inputs run the push's `up` shards; Azure: runtime parameters run the `up`
    stage; GitLab: a manual job that extends `up`. Each holds the write app only where `up` does."""
    workflow = load(GITHUB)
    dispatch = workflow[True]["workflow_dispatch"]["inputs"]  # `on:` loads as True under YAML 1.1
    assert (dispatch["run"]["options"], dispatch["run"]["default"], dispatch["stacks"]["default"]) == (
        ["drift", "converge"],
        "drift",
        "*",
    )
    jobs = github_jobs()
    assert "inputs.run == 'converge'" in jobs["plan"]["if"]
    assert "github.event_name == 'workflow_dispatch'" in jobs["up"]["if"]
    assert "github.ref == 'refs/heads/main'" in jobs["up"]["if"]
    assert jobs["up"]["environment"] == "tenants-write"
    assert (
        jobs["up"]["env"]["STACKS"] == step(jobs["plan"]["steps"], "id", "plan")["env"]["STACKS"] == "${{ inputs.stacks || '*' }}"
    )
    assert "inputs.run == 'drift'" in jobs["drift"]["if"]

    parameters = {p["name"]: p for p in load(AZURE)["parameters"]}
    assert (parameters["converge"]["type"], parameters["stacks"]["default"]) == ("boolean", "*")
    up = azure_stages()["up"]
    assert "eq('${{ parameters.converge }}', 'true')" in up["condition"]
    assert "'Manual'" in up["condition"]
    assert "refs/heads/main" in up["condition"]
    assert ado_script(azure_job("up", "shard"), runs="fleet up")["env"]["STACKS"] == "${{ parameters.stacks }}"
    assert ado_script(azure_job("plan", "matrix"), name="fleet")["env"]["STACKS"] == "${{ parameters.stacks }}"

    gitlab = load(GITLAB)
    converge = gitlab["converge"]
    assert converge["extends"] == "up"  # its environment, resource group and write app
    manual = [rule for rule in converge["rules"] if rule.get("when") == "manual"]
    assert manual == [{"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH", "when": "manual", "allow_failure": True}]
    assert converge["variables"] == {"CONVERGE_STACKS": "*"}


def test_remediation_on_schedule_is_opt_in_and_still_behind_the_approval() -> None:
    jobs = github_jobs()
    assert "vars.REMEDIATE_ON_SCHEDULE == 'true'" in jobs["plan"]["if"]  # off: a schedule plans nothing
    assert "needs.drift.outputs.differs != '0'" in jobs["up"]["if"]
    assert jobs["drift"]["outputs"] == {"differs": "${{ steps.drift.outputs.differs }}"}
    stages = azure_stages()
    assert "eq(variables['REMEDIATE_ON_SCHEDULE'], 'true')" in stages["plan"]["condition"]
    assert "ne(dependencies.drift.outputs['drift.fleet.differs'], '0')" in stages["up"]["condition"]
    (scheduled,) = [rule for rule in load(GITLAB)["converge"]["rules"] if "schedule" in rule["if"]]
    assert scheduled == {"if": '$CI_PIPELINE_SOURCE == "schedule" && $REMEDIATE_ON_SCHEDULE =~ /^true$/i', "when": "on_failure"}


@pytest.mark.parametrize("pipeline", ["github", "azure"])
def test_a_manual_converge_plans_only_the_shards_of_the_stacks_it_names(
    pipeline: str, stacks_emulator: Emulator, tmp_path: Path
) -> None:
    stacks = {f"customer-{i}": {"azuread:tenantId": stacks_emulator.add_tenant().id} for i in range(12)}
    project = fleet_project(tmp_path / "project", stacks_emulator, stacks)
    named = ["customer-1", "customer-10", "customer-11", "customer-7"]
    if pipeline == "github":
        done, outputs = run_github_plan_step(project, stacks_emulator, tmp_path, stacks="customer-1*,customer-7")
        assert done.returncode == 0, done.stderr
        legs = json.loads(outputs["legs"])["include"]
        shards = int(load(GITHUB)["env"]["FLEET_SHARDS"])
    else:
        done = run_azure_plan_step(project, stacks_emulator, tmp_path, stacks="customer-1*,customer-7")
        assert done.returncode == 0, done.stderr
        legs = list(json.loads(azure_output(done.stdout, "legs")).values())
        shards = int(load(AZURE)["variables"]["fleetShards"])
    assert sorted(leg["shard"] for leg in legs) == expected_shards(named, shards)
    # A glob that matches nothing fails the run before any job holds the write app.
    if pipeline == "github":
        typo, _ = run_github_plan_step(project, stacks_emulator, tmp_path, stacks="custmer-7")
    else:
        typo = run_azure_plan_step(project, stacks_emulator, tmp_path, stacks="custmer-7")
    assert typo.returncode == 2
    assert "custmer-7" in typo.stderr


def same_shard_names(count: int) -> tuple[str, str]:
    """Two stack names in one shard of `count`, so only --stacks keeps the second out of the first's job."""
    names = [f"customer-{i}" for i in range(64)]
    first = names[0]
    second = next(name for name in names[1:] if shard_of(name, count) == shard_of(first, count))
    return first, second


def converge_step(
    pipeline: str, repo: Path, env: dict[str, str], stacks: str, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """The manual converge's write step, as its platform runs it, given the globs the run was started with."""
    script = tmp_path / f"{pipeline}-converge.sh"
    if pipeline == "github":
        shards = int(load(GITHUB)["env"]["FLEET_SHARDS"])
        shard = f"{shard_of(stacks, shards)}/{shards}"
        script.write_text(step(github_jobs()["up"]["steps"], "name", "python -m fleet up")["run"])
        summary = tmp_path / "step-summary.md"
        env = {**env, "SHARD": shard, "STACKS": stacks, "GITHUB_STEP_SUMMARY": str(summary)}
        return run(["bash", "--noprofile", "--norc", "-eo", "pipefail", script], cwd=repo, env=env)
    if pipeline == "azure":
        shards = int(load(AZURE)["variables"]["fleetShards"])
        shard = f"{shard_of(stacks, shards)}/{shards}"
        script.write_text(ado_script(azure_job("up", "shard"), runs="fleet up")["bash"])
        return run(["bash", "--noprofile", "--norc", script], cwd=repo, env={**env, "SHARD": shard, "STACKS": stacks})
    script.write_text("\n".join(load(GITLAB)["converge"]["script"]))
    env = {**env, "CONVERGE_STACKS": stacks, "ALERT_WEBHOOK_URL": ""}
    return run(["bash", "--noprofile", "--norc", "-e", script], cwd=repo, env=env)


@pytest.mark.engine
@pytest.mark.parametrize("pipeline", ["github", "azure", "gitlab"])
def test_a_manual_converge_step_converges_the_named_stack_and_no_other(
    pipeline: str, pulumi_bin: str, stacks_emulator: Emulator, tmp_path: Path
) -> None:
    """Two drifted tenants in one shard; the run names one: it is converged (its stack created in the
    backend on the way), the other keeps its drift."""
    count = int(load(GITHUB)["env"]["FLEET_SHARDS"])
    assert count == int(load(AZURE)["variables"]["fleetShards"])
    named, other = same_shard_names(count)
    tenants = {name: stacks_emulator.add_tenant(bitlocker=True) for name in (named, other)}
    app = stacks_emulator.add_tenant().add_app(roles=())
    for tenant in tenants.values():
        tenant.consent(app, ["Policy.ReadWrite.Authorization"])
    stacks = {
        name: {
            "azuread:tenantId": tenant.id,
            "bitlocker-policy:graphEndpoint": stacks_emulator.url,
            "bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice": "false",
        }
        for name, tenant in tenants.items()
    }
    repo = fleet_project(tmp_path / "project", stacks_emulator, stacks)
    backend = tmp_path / "backend"
    backend.mkdir()
    env = step_env(
        stacks_emulator,
        PATH=f"{pulumi_bin}{os.pathsep}{os.environ['PATH']}",
        PULUMI_BACKEND_URL=backend.as_uri(),
        PULUMI_CONFIG_PASSPHRASE="not a secret",
        PULUMI_HOME=str(tmp_path / "pulumi-home"),
        PULUMI_SKIP_UPDATE_CHECK="true",
        ARM_CLIENT_ID=app.client_id,
        ARM_CLIENT_SECRET=app.add_secret(),
    )
    done = converge_step(pipeline, repo, env, named, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((repo / "fleet.json").read_text())
    assert [(row["stack"], row["status"]) for row in report["stacks"]] == [(named, "changed")]
    assert (tenants[named].bitlocker, tenants[other].bitlocker) == (False, True)


def drift_step(pipeline: str, repo: Path, env: dict[str, str], tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], str]:
    """The scheduled drift step as its platform runs it: its exit, and what it said (outputs and summary)."""
    script = tmp_path / f"{pipeline}-drift.sh"
    if pipeline == "github":
        script.write_text(step(github_jobs()["drift"]["steps"], "id", "drift")["run"])
        output, summary = tmp_path / "github-output", tmp_path / "step-summary.md"
        output.write_text("")
        summary.write_text("")
        env = {**env, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
        done = run(["bash", "--noprofile", "--norc", "-eo", "pipefail", script], cwd=repo, env=env)
        return done, output.read_text() + summary.read_text()
    if pipeline == "azure":
        script.write_text(ado_script(azure_job("drift", "drift"), name="fleet")["bash"])
        done = run(["bash", "--noprofile", "--norc", script], cwd=repo, env=env)
        return done, done.stdout + (repo / "fleet.md").read_text()
    script.write_text("\n".join(load(GITLAB)["drift"]["script"]))
    done = run(["bash", "--noprofile", "--norc", "-e", script], cwd=repo, env={**env, "ALERT_WEBHOOK_URL": ""})
    return done, done.stdout


@pytest.mark.engine  # drift reads a differing stack's outputs with the pulumi CLI
@pytest.mark.parametrize("pipeline", ["github", "azure", "gitlab"])
@pytest.mark.parametrize("remediate", ["", "true", "True"])  # any case, as the job conditions read it
def test_the_scheduled_drift_says_whether_it_remediates_and_counts_what_differs(
    pipeline: str, remediate: str, pulumi_bin: str, stacks_emulator: Emulator, tmp_path: Path
) -> None:
    tenant = stacks_emulator.add_tenant(bitlocker=True)
    app = tenant.add_app(roles=("Policy.Read.All",))
    stacks = {
        "customer": {
            "azuread:tenantId": tenant.id,
            "bitlocker-policy:graphEndpoint": stacks_emulator.url,
            "bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice": "false",
        }
    }
    repo = fleet_project(tmp_path / "project", stacks_emulator, stacks)
    backend = tmp_path / "backend"
    backend.mkdir()
    env = step_env(
        stacks_emulator,
        PATH=f"{pulumi_bin}{os.pathsep}{os.environ['PATH']}",
        PULUMI_BACKEND_URL=backend.as_uri(),
        PULUMI_CONFIG_PASSPHRASE="not a secret",
        PULUMI_HOME=str(tmp_path / "pulumi-home"),
        PULUMI_SKIP_UPDATE_CHECK="true",
        ARM_CLIENT_ID=app.client_id,
        ARM_CLIENT_SECRET=app.add_secret(),
        REMEDIATE_ON_SCHEDULE=remediate,
    )
    done, said = drift_step(pipeline, repo, env, tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr  # the tenant differs: the scheduled run fails and alerts
    if remediate:
        assert "Remediation on schedule: on (REMEDIATE_ON_SCHEDULE)" in said, said
    else:
        assert "Remediation on schedule: off (set the" in said, said
        assert "REMEDIATE_ON_SCHEDULE to true" in said, said
    if pipeline == "github":
        assert "differs=1\n" in said
    elif pipeline == "azure":
        assert "##vso[task.setvariable variable=differs;isOutput=true]1" in said
