"""The fault matrix: every fault x operation under the real CLI, written to docs/reliability.md.

One stack per fault lives through every operation with the fault armed at each. For every
cell: the operation ends in success after bounded retries or in one clear line; afterwards
state claims no value the tenant lacks and keeps the true original as `adoptedValue`; and
the stack converges, by a plain rerun where the operation failed, with no manual step of ours. The last test
fails when the committed docs/reliability.md differs from what this run wrote.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
import yaml

from emulator import Emulator
from emulator.state import Faults
from providers.signin.discovery_cache import default_path
from tests.support.engine import Deployment, NewStack, Run
from tests.support.processes import session_members, stop, wait_until_gone
from tests.support.reliability_doc import Section, declare, record

pytestmark = pytest.mark.engine

OPERATIONS = ("first up", "up on drift", "refresh", "destroy")
ORIGINAL, DECLARED = True, False  # every tenant starts allowing; every stack declares "block"


@dataclass(frozen=True)
class Fault:
    """How to arm one fault against the emulator, and what it needs."""

    arm: Callable[[Emulator, Deployment], None]
    writes: bool = False  # only meets an operation that PATCHes (refresh never does)
    kills_cli: bool = False  # the DIY backend's lock then needs `pulumi cancel` before a rerun
    config: tuple[tuple[str, str], ...] = ()


def _kill_provider(deployment: Deployment) -> None:
    """SIGKILL the dynamic-provider process of this stack's project (found through /proc)."""
    for pid in _project_processes(deployment, "pulumi.dynamic"):
        os.kill(pid, signal.SIGKILL)


def _project_processes(deployment: Deployment, marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if marker in cmdline and cwd == str(deployment.stack.project):
            found.append(int(entry.name))
    return found


def _discovery_outage(emulator: Emulator, _: Deployment) -> None:
    """A 503 from discovery, met because the cached document is gone (as after a day)."""
    default_path().unlink(missing_ok=True)
    emulator.faults.fail(503, endpoint="discovery")


def _storm(emulator: Emulator, _: Deployment) -> None:
    """Four 5xx in a row: the first try and all three retries."""
    emulator.faults.fail(503, 2, retry_after="1")
    emulator.faults.fail(504, 2, retry_after="1")


FAULTS: dict[str, Fault] = {
    "429, Retry-After in seconds": Fault(lambda e, _: e.faults.throttle(1, retry_after="1")),
    "429, Retry-After as an HTTP date": Fault(
        lambda e, _: e.faults.throttle(1, retry_after=formatdate(time.time() + 2, usegmt=True))
    ),
    "429 without Retry-After": Fault(lambda e, _: e.faults.throttle(1, retry_after=None)),
    "503/504 storm past the retry budget": Fault(_storm),
    "connection dropped before the PATCH is applied": Fault(lambda e, _: e.faults.drop(1, method="PATCH"), writes=True),
    "connection dropped after the PATCH is applied": Fault(lambda e, _: e.faults.applied(0), writes=True),
    "PATCH applied, then 504 on every try": Fault(lambda e, _: e.faults.applied(504, 4, retry_after="1"), writes=True),
    "200 instead of 204": Fault(lambda e, _: e.faults.applied(200), writes=True),
    "token endpoint 503": Fault(lambda e, _: e.faults.fail(503, endpoint="token")),
    "OIDC discovery 503 (its day-long cache expired)": Fault(_discovery_outage),
    "stale reads after a write": Fault(
        lambda e, _: setattr(e.faults, "stale_reads_ms", 3000), config=(("bitlocker-policy:consistencyWindowSeconds", "30"),)
    ),
    "slow body past the deadline": Fault(
        lambda e, _: e.faults.slow(seconds=20, count=8), config=(("bitlocker-policy:deadlineSeconds", "4"),)
    ),
    "CLI killed after the PATCH": Fault(lambda e, _: None, writes=True, kills_cli=True),
    "provider killed after the PATCH": Fault(
        lambda e, d: setattr(e.faults, "after_write", lambda: _kill_provider(d)), writes=True
    ),
}


def _fault_cell(outcome: str, retries: int, rerun: str) -> str:
    """What one fault did to one operation: the outcome, the retried requests, what the next run needed."""
    return f"{outcome}; {retries} retried request(s); rerun: {rerun}"


def _prepare(deployment: Deployment, operation: str) -> None:
    """Bring the stack, where the operation before left it (converged), to where this one starts: nothing
    (a new stack), adopted and drifted, or adopted and converged (so that `destroy` has a value to restore)."""
    if operation == "destroy" and deployment.tenant.bitlocker is not DECLARED:
        deployment.stack.pulumi("up", "--yes", "--skip-preview")
    if operation in ("up on drift", "refresh"):
        deployment.emulator.set_bitlocker(deployment.tenant, ORIGINAL)
    deployment.emulator.directory.requests.clear()


def _command(operation: str) -> tuple[str, ...]:
    return {
        "first up": ("up", "--yes", "--skip-preview"),
        "up on drift": ("up", "--yes", "--skip-preview"),
        "refresh": ("refresh", "--yes", "--skip-preview"),
        "destroy": ("destroy", "--yes", "--skip-preview"),
    }[operation]


def _run(deployment: Deployment, operation: str, kill_cli: bool) -> Run:
    """Run the operation; with `kill_cli`, SIGKILL the CLI the moment a PATCH has landed."""
    stack = deployment.stack
    command = ["pulumi", *_command(operation), "--stack", stack.name, "--non-interactive", "--color", "never"]
    process = subprocess.Popen(
        command, cwd=stack.project, env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    if kill_cli:
        deployment.emulator.faults.after_write = process.kill
    try:
        output, _ = process.communicate(timeout=600)
    finally:
        stop(process)  # a run past its timeout, or this test failing, leaves no CLI behind
    return stack.record(_command(operation), Run(process.returncode, output))


def _state(deployment: Deployment) -> dict[str, dict[str, Any]]:
    """Outputs per resource type in the stack's state."""
    resources = deployment.stack.resources()
    return {
        r["type"].rsplit(":", 1)[-1]: r.get("outputs", {}) for r in resources if r["type"].startswith("pulumi-python:dynamic/")
    }


def _error_label(run: Run) -> str:
    """The one line a user meets, as a stable label; fails the test on a traceback or several lines."""
    if run.code == -signal.SIGKILL:
        return "CLI killed"
    if "error reading from server: EOF" in run.output:
        # The engine lost the provider process; Pulumi then interrupts the program, whose
        # KeyboardInterrupt traceback the CLI prints: the engine's own output, not ours.
        return "engine: the provider process ended"
    assert "Traceback" not in run.output, run.output
    lines = {line.split("error: ", 1)[-1].strip() for line in run.output.splitlines() if "error: " in line}
    ours = [line for line in lines if "bitlocker-policy" in line or "Graph" in line or "Entra" in line or "deadline" in line]
    labels = {
        "retries ran out": "Graph throttled past the retries",
        "deadline": "the operation's deadline, said so",
        "kept failing": "Entra outage past the retries",
    }
    for needle, label in labels.items():
        if any(needle in line for line in lines):
            assert len(ours) == 1, run.output  # one clear line of ours
            return f"one line: {label}"
    raise AssertionError(f"unexpected failure:\n{run.output}")


def _converged(deployment: Deployment, operation: str) -> None:
    """The stack and the tenant agree with what the operation was for, and a next run has nothing to do
    (`preview --expect-no-changes` after an `up`; state matching the tenant after a refresh; nothing left
    after `destroy`, the tenant back at its original)."""
    state = _state(deployment)
    setting, adoption = state.get("BitlockerKeyAccess"), state.get("BitlockerAdoption")
    if operation == "destroy":
        assert (state, deployment.tenant.bitlocker) == ({}, ORIGINAL)
        return
    assert setting is not None
    assert adoption is not None
    assert setting["adoptedValue"] is ORIGINAL
    assert adoption["adoptedValue"] is ORIGINAL
    assert setting["liveValue"] == deployment.tenant.bitlocker
    if operation != "refresh":
        assert deployment.tenant.bitlocker is DECLARED
        deployment.stack.pulumi("preview", "--expect-no-changes")  # right after our own write: no false drift


def _cell(deployment: Deployment, fault: Fault, operation: str) -> str:
    """Run one operation with the fault armed, check what it left, converge it; what happened, as the page says it."""
    before = _state(deployment).get("BitlockerKeyAccess", {}).get("liveValue")
    fault.arm(deployment.emulator, deployment)
    run = _run(deployment, operation, fault.kills_cli)
    emulator = deployment.emulator
    retries = sum(1 for r in emulator.directory.requests if "retry-attempt" in r.headers)
    outcome = "ok" if run.code == 0 else _error_label(run)
    emulator.faults.clear()  # queued answers, hooks, staleness: the fault was this operation's alone
    for pid in _project_processes(deployment, "pulumi.dynamic"):  # what a killed CLI left running
        os.kill(pid, signal.SIGKILL)

    # State never claims a value the tenant lacks: unchanged, or what the tenant has.
    setting = _state(deployment).get("BitlockerKeyAccess")
    if setting is not None:
        assert setting["liveValue"] in (before, deployment.tenant.bitlocker)
        assert setting["adoptedValue"] is ORIGINAL

    rerun = "nothing to do"  # _converged shows it: a clean preview, or state that already agrees
    if run.code != 0:
        rerun = "plain rerun"
        if fault.kills_cli:
            deployment.stack.pulumi("cancel", "--yes")  # the DIY backend's lock, left by the killed CLI
            rerun = "`pulumi cancel` (Pulumi's lock), then a plain rerun"
        deployment.stack.pulumi(*_command(operation))
    _converged(deployment, operation)
    return _fault_cell(outcome, retries, rerun)


@pytest.mark.parametrize("fault_name", list(FAULTS))
def test_one_stacks_life_under_the_fault(new_stack: NewStack, fault_name: str) -> None:
    """One stack meets the fault at each operation of its life, in the columns' order: each starts where the
    one before left it, converged (`_prepare` drifts it, or converges it for `destroy`)."""
    fault = FAULTS[fault_name]
    deployment = new_stack(**dict(fault.config))
    for operation in OPERATIONS:
        if fault.writes and operation == "refresh":
            record("faults", fault_name, operation, "n/a: refresh never writes")
            continue
        _prepare(deployment, operation)
        record("faults", fault_name, operation, _cell(deployment, fault, operation))


# -- the tables after the fault matrix: one per kind of case, a row per case -------------------------
SECTIONS: dict[str, Section] = {
    "faults": declare("faults", Section("", "", tuple(FAULTS), OPERATIONS, totals=True, case_column="fault")),
}


def _one_line(run: Run, needle: str) -> None:
    """The run failed with exactly one line of ours carrying `needle`: no traceback, nothing a terminal acts on."""
    assert run.code != 0, run.output
    assert "Traceback" not in run.output, run.output
    assert not any(unicodedata.category(char) == "Cc" and char not in "\n\t" for char in run.output), run.output
    lines = {line.split("error: ", 1)[-1].strip() for line in run.output.splitlines() if needle in line}
    assert len(lines) == 1, run.output


def _patches(deployment: Deployment) -> int:
    return len(deployment.emulator.graph_requests("PATCH", deployment.tenant))


# Config forms: everywhere Pulumi lets a user set retainOnDelete after the last `up`.
RETAIN = "bitlocker-policy:retainOnDelete"


def _in_the_stack_file(deployment: Deployment) -> tuple[str, ...]:
    deployment.stack.configure({RETAIN: "true"})
    return ()


def _as_a_secret(deployment: Deployment) -> tuple[str, ...]:
    deployment.stack.configure({}, secret={RETAIN: "true"})
    return ()


def _as_the_project_default(deployment: Deployment) -> tuple[str, ...]:
    pulumi_yaml = deployment.stack.project / "Pulumi.yaml"
    declared = "  retainOnDelete:\n    type: boolean\n    default: false\n"
    assert declared in pulumi_yaml.read_text()
    pulumi_yaml.write_text(pulumi_yaml.read_text().replace(declared, declared.replace("false", "true")))
    return ()


def _in_another_config_file(deployment: Deployment) -> tuple[str, ...]:
    stack_file = deployment.stack.project / "stacks" / f"Pulumi.{deployment.stack.name}.yaml"
    other = yaml.safe_load(stack_file.read_text())
    other["config"][RETAIN] = "true"
    (deployment.stack.project / "other.yaml").write_text(yaml.safe_dump(other))
    return ("--config-file", "other.yaml")


def _after_a_stack_rename(deployment: Deployment) -> tuple[str, ...]:
    renamed = f"{deployment.stack.name}-renamed"
    deployment.stack.pulumi("stack", "rename", renamed)
    deployment.stack.name = renamed
    deployment.stack.configure({RETAIN: "true"})
    return ()


FORMS: dict[str, Callable[[Deployment], tuple[str, ...]]] = {
    "in the stack file (`pulumi config set`)": _in_the_stack_file,
    "as a secret (`pulumi config set --secret`)": _as_a_secret,
    "as the project's default (Pulumi.yaml)": _as_the_project_default,
    "in a file given with `--config-file`": _in_another_config_file,
    "in the new file of a renamed stack (`pulumi stack rename`)": _after_a_stack_rename,
    "not at all (control: restore)": lambda _: (),
}

SECTIONS["config forms"] = declare(
    "config forms",
    Section(
        "retainOnDelete set after the last `up`, in every form Pulumi allows",
        "Each stack was brought up with `retainOnDelete` unset (restore), then set to `true` as the row says, then "
        "destroyed as the column says. *kept*: the tenant kept the declared value, no PATCH. *refused*: one line "
        "saying how to proceed, no PATCH, and `destroy --run-program` then kept it. Never a silent restore.",
        columns=("pulumi destroy", "pulumi destroy --run-program"),
        cases=tuple(FORMS),
    ),
)
REFUSALS = {"is a secret in": "a secret it cannot read", "a renamed stack": "the stack's file is gone"}


@pytest.mark.parametrize("run_program", [False, True], ids=["destroy", "destroy --run-program"])
@pytest.mark.parametrize("form", list(FORMS))
def test_retain_on_delete_in_every_config_form(new_stack: NewStack, form: str, run_program: bool) -> None:
    deployment = new_stack()
    deployment.stack.pulumi("up", "--yes", "--skip-preview")
    extra = FORMS[form](deployment)
    destroy = ("destroy", "--yes", "--skip-preview", *extra)
    run = deployment.stack.pulumi(*destroy, *(("--run-program",) if run_program else ()), expect=None)
    if form.startswith("not at all"):
        assert (run.code, _patches(deployment), deployment.tenant.bitlocker) == (0, 2, ORIGINAL)  # up's, destroy's
        outcome = "restored: 1 PATCH"
    elif run.code == 0:
        assert (_patches(deployment), deployment.tenant.bitlocker) == (1, DECLARED)  # up's PATCH only
        assert "bitlocker-policy:retainOnDelete is true: the tenant keeps its current value" in run.output
        outcome = "kept: no PATCH"
    else:
        needle = next(needle for needle in REFUSALS if needle in run.output)
        _one_line(run, "nothing was written")
        assert (_patches(deployment), deployment.tenant.bitlocker) == (1, DECLARED)
        deployment.stack.pulumi(*destroy, "--run-program")  # the way out the line names
        assert (_patches(deployment), deployment.tenant.bitlocker) == (1, DECLARED)
        outcome = f"refused ({REFUSALS[needle]}), no PATCH; `--run-program` then kept it"
    record("config forms", form, SECTIONS["config forms"].columns[run_program], outcome)


# Exclusion: the adoption record left out of an update.
EXCLUSIONS = {
    "`up --skip-preview --exclude` the record": ("--skip-preview", "--exclude", "adoption"),
    "`up --exclude` the record (with its preview)": ("--exclude", "adoption"),
    "`up --skip-preview --target` the setting alone": ("--skip-preview", "--target", "setting"),
}

SECTIONS["exclusion"] = declare(
    "exclusion",
    Section(
        "The adoption record left out of an update",
        "On a new stack, the adoption record (`BitlockerAdoption`) left out of the first `up`. The setting "
        "never writes without the record in state, whatever the engine does; afterwards a plain `up` converged "
        "and recorded the tenant's original value.",
        columns=("outcome", "Graph writes", "rerun"),
        cases=tuple(EXCLUSIONS),
    ),
)


@pytest.mark.parametrize("case", list(EXCLUSIONS))
def test_the_adoption_record_left_out(new_stack: NewStack, case: str) -> None:
    deployment = new_stack()
    urns = {
        "adoption": f"urn:pulumi:{deployment.stack.name}::bitlocker-policy::pulumi-python:dynamic/entra:BitlockerAdoption::"
        "bitlocker-adoption",
        "setting": f"urn:pulumi:{deployment.stack.name}::bitlocker-policy::pulumi-python:dynamic/entra:BitlockerKeyAccess::"
        "bitlocker-key-access",
    }
    args = tuple(urns.get(arg, arg) for arg in EXCLUSIONS[case])
    run = deployment.stack.pulumi("up", "--yes", *args, expect=None)
    if "is not in state" in run.output:
        _one_line(run, "is not in state")
        assert urns["adoption"] in run.output
        outcome = "one line of ours: the record is not in state, naming its URN"
    elif "missing dependency" in run.output:
        outcome = "Pulumi refuses at the preview: a missing dependency"
    else:
        assert "was not specified in --target list" in run.output, run.output
        outcome = "Pulumi refuses: the record is not in the --target list"
    assert run.code != 0
    writes = _patches(deployment)
    assert (writes, deployment.tenant.bitlocker) == (0, ORIGINAL)
    deployment.stack.pulumi("up", "--yes", "--skip-preview")
    assert (deployment.tenant.bitlocker, deployment.stack.outputs()["adoptedValue"]) == (DECLARED, ORIGINAL)
    record("exclusion", case, "outcome", outcome)
    record("exclusion", case, "Graph writes", "none")
    record("exclusion", case, "rerun", "plain `up` converged")


# Signals: the CLI stopped while the provider waits on Graph.
SIGNALS = {"SIGKILL": signal.SIGKILL, "SIGINT (Ctrl-C)": signal.SIGINT, "SIGTERM": signal.SIGTERM}


@pytest.mark.parametrize("name", list(SIGNALS))
def test_the_cli_stopped_mid_up(new_stack: NewStack, name: str) -> None:
    deployment = new_stack()
    emulator, stack = deployment.emulator, deployment.stack
    emulator.faults.latency = 5
    command = ["pulumi", "up", "--yes", "--skip-preview", "--stack", stack.name, "--non-interactive"]
    cli = subprocess.Popen(
        command,
        cwd=stack.project,
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not emulator.directory.requests and time.monotonic() < deadline:
            time.sleep(0.2)
        members = session_members(cli.pid)
        assert any("pulumi.dynamic" in line for line in members.values()), members
        cli.send_signal(SIGNALS[name])
        output, _ = cli.communicate(timeout=180)
    finally:
        stop(cli)
    stack.record(("up",), Run(cli.returncode, output))
    left = wait_until_gone([pid for pid in members if pid != cli.pid], 5)
    assert not left, {pid: members[pid] for pid in left}
    emulator.faults.latency = 0
    ended = "killed" if cli.returncode == -signal.SIGKILL else f"stopped (exit {cli.returncode})"
    setting = _state(deployment).get("BitlockerKeyAccess")
    assert setting is None or setting["liveValue"] in (None, deployment.tenant.bitlocker)
    rerun = "plain rerun"
    if cli.returncode == -signal.SIGKILL:
        stack.pulumi("cancel", "--yes")
        rerun = "`pulumi cancel` (Pulumi's lock), then a plain rerun"
    stack.pulumi("up", "--yes", "--skip-preview")
    _converged(deployment, "first up")
    record("signals", name, "the CLI", ended)
    record("signals", name, "processes left", "none")
    record("signals", name, "rerun", rerun)


# Bad input: what a user can get wrong in config, met at preview before any Graph request.


def _fifo_certificate(deployment: Deployment) -> dict[str, str]:
    fifo = deployment.stack.project / "app.pem"
    os.mkfifo(fifo)  # reading it would wait for a writer for ever
    del deployment.stack.env["ARM_CLIENT_SECRET"]
    return {"azuread:clientCertificatePath": str(fifo)}


BAD_INPUT: dict[str, tuple[Callable[[Deployment], dict[str, str]], str]] = {
    "declared value `maybe`": (lambda _: {DESIRED_KEY: "maybe"}, "must be of type 'boolean'"),
    "tenant that is no GUID or domain": (lambda _: {"azuread:tenantId": "not a tenant"}, "must be the tenant's GUID"),
    "tenant with a trailing space": (lambda d: {"azuread:tenantId": d.tenant.domain + " "}, "with no spaces or line breaks"),
    "Graph endpoint over http": (lambda _: {"bitlocker-policy:graphEndpoint": "http://graph.example.test"}, "https://"),
    "two credentials": (lambda _: {"azuread:useMsi": "true"}, "More than one credential is configured"),
    "certificate path naming a FIFO": (_fifo_certificate, "not a regular file"),
    "deadline of 0 s": (lambda _: {"bitlocker-policy:deadlineSeconds": "0"}, "must be a number of seconds above 0"),
}

SECTIONS["bad input"] = declare(
    "bad input",
    Section(
        "Bad input, met at `pulumi preview`",
        "Each row's config was set on a new stack, then `pulumi preview` ran: one line naming what to fix, no "
        "traceback, no Graph request.",
        columns=("the one line names",),
        cases=tuple(BAD_INPUT),
    ),
)

SECTIONS["signals"] = declare(
    "signals",
    Section(
        "The CLI stopped while the provider waits on Graph",
        "Every answer of the emulator took 5 s; the signal went to the CLI once the provider had sent its first "
        "request. Afterwards no process of the CLI's session was left (checked 5 s after the CLI ended), state "
        "claimed no value the tenant lacked, and the rerun converged.",
        columns=("the CLI", "processes left", "rerun"),
        cases=tuple(SIGNALS),
    ),
)
DESIRED_KEY = "bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice"


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_one_line_at_preview(new_stack: NewStack, case: str) -> None:
    deployment = new_stack()
    arrange, needle = BAD_INPUT[case]
    deployment.stack.configure(arrange(deployment))
    run = deployment.stack.pulumi("preview", expect=1)
    _one_line(run, needle)
    assert deployment.emulator.graph_requests() == []
    record("bad input", case, "the one line names", f"«{needle}»")


# Hostile answers: what a proxy, a broken middlebox or a hostile service can answer.
BOM = b"\xef\xbb\xbf"
HOSTILE_TEXT = "<img src=x onerror=alert(1)>\x1b[2J\u202egnp.exe"
HOSTILE: dict[str, tuple[Callable[[Faults], None], str]] = {
    "token answer with a byte-order mark": (lambda f: f.mangle("token", lambda b: BOM + b), "other than a JSON object"),
    "token answer with bytes after it": (lambda f: f.mangle("token", lambda b: b + b"\n<!-- x -->"), "other than a JSON object"),
    "token answer that is a JSON list": (lambda f: f.answer("token", 200, [{"access_token": "x"}]), "other than a JSON object"),
    "token endpoint throttling for 10 minutes": (
        lambda f: f.answer("token", 429, "Too Many Requests", retry_after="600"),
        "is throttling this app (HTTP 429, Retry-After 600 s)",
    ),
    "token refusal whose error_codes are not integers": (
        lambda f: f.answer("token", 401, {"error": "invalid_client", "error_codes": ["x", None], "error_description": "no"}),
        "Entra ID refused a token",
    ),
    "discovery answer that is a JSON list": (lambda f: f.answer("discovery", 200, ["issuer"]), "other than a JSON object"),
    "discovery answer that is an HTML page": (lambda f: f.garbage(endpoint="discovery"), "other than a JSON object"),
    "discovery document whose token_endpoint is a number": (
        lambda f: f.answer("discovery", 200, {"issuer": "x", "token_endpoint": 42, "authorization_endpoint": "y"}),
        "no OpenID configuration",
    ),
    "Graph 403 whose message carries markup and escape sequences": (
        lambda f: f.answer("graph", 403, {"error": {"code": "Authorization_RequestDenied", "message": HOSTILE_TEXT}}),
        "Graph denied GET",
    ),
    "Graph answer that is a JSON list": (lambda f: f.answer("graph", 200, [{"id": "authorizationPolicy"}]), "no boolean"),
}

SECTIONS["hostile answers"] = declare(
    "hostile answers",
    Section(
        "Answers a proxy or a broken service can give, met at `pulumi preview`",
        "One line naming the endpoint and what to check, no traceback, no escape sequence, no token in any output "
        "or file (the leak check every end-to-end test ends with), nothing written.",
        columns=("the one line says",),
        cases=tuple(HOSTILE),
    ),
)


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_answer_is_one_plain_line(new_stack: NewStack, case: str) -> None:
    deployment = new_stack()
    arm, needle = HOSTILE[case]
    arm(deployment.emulator.faults)
    run = deployment.stack.pulumi("preview", expect=1)
    _one_line(run, needle)
    assert "PATCH" not in deployment.graph_calls()
    record("hostile answers", case, "the one line says", f"«{needle}»")
