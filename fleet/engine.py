"""`preview`, `up` and `refresh` of one tenant stack through Pulumi's Automation API, as published.

The program function (`program.declare`) is handed to the workspace and runs *inline*, in
this process: no language host and no program process per stack, which bench/fleet.py
measures against a `pulumi preview` loop.
The engine still starts the dynamic provider in the project directory, where it imports
`providers` as under the CLI (pulumi/pulumi#7960: an inline program's provider must be
importable there), with this interpreter's environment (PULUMI_RUNTIME_VIRTUALENV), which
has the project's requirements since the fleet runs in it; the CLI's PYTHONPATH makes each
provider process watch its engine from start-up (providers/engine_watch.py).

Stacks come from the public API, `auto.Stack.select` (and `create_or_select` for `up`, as
pulumi/actions' `upsert` does): a stack missing from the backend is a fact for `preview` and
`refresh` to report, and they write nothing to it. The engine's event stream gives each
stack's live value, the PATCH's request-id and the provider's one-line error.

The CLI processes that API runs around a command are paid, not patched away: a `pulumi stack
select` per stack (0.19 s), and after `up` two `pulumi stack output` and a `pulumi stack
history` (about 1.0 s); bench/README.md, "Automation API". Skipping them takes a subclass,
or the inline program's server, which is private; `pulumi up` with the project's
`__main__.py` skips them (0.66-0.75 s saved an `up`) but would run the program a second way,
for the command the pipelines run only on drifted stacks."""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from fleet import serialization_guard
from fleet.diy_backend import checkpoint_outputs, empty_sidecars_failure
from fleet.outcome import ALREADY_THERE, FAILED, NEVER_DEPLOYED, RECORD, UPDATE, Outcome, why_update
from providers.bitlocker import DRIFT_MARK
from providers.common.errors import EngineError
from providers.common.outside_text import one_line
from providers.engine_watch import python_path
from providers.properties import ADOPTION_NAME, SETTING_NAME, SettingProperties, StackOutputs

__all__ = ["LOCK_WAIT_MAX_SECONDS", "Engine", "cli_failure", "lock_failure"]

OURS = (f"::{SETTING_NAME}", f"::{ADOPTION_NAME}")  # the URNs of the program's two resources end so
# The dynamic-provider host reports `module.Class: message` (gRPC may prefix its own words).
_EXCEPTION_NAME = re.compile(r"^(?:Exception calling application: )?(?:(?:\w+\.)*\w*(?:Error|Exception): )+")
_CHANGES = {"create", "update", "replace", "create-replacement", "delete-replaced"}
# `up` ends with two `pulumi stack output` and a `pulumi stack history`, `refresh` with the history
# (pulumi/automation/_stack.py, Stack.up and Stack.refresh), for a result the fleet never reads: the
# events carry what it needs. Without show_secrets the history decrypts nothing: 0.1-0.2 s less an
# `up` (bench/README.md, "Automation API").
_OPTIONS: dict[str, dict[str, Any]] = {"preview": {}, "up": {"show_secrets": False}, "refresh": {"show_secrets": False}}


class _Events:
    """What the engine reported about the setting while one command ran."""

    def __init__(self) -> None:
        self.inputs: Mapping[str, Any] = {}
        self.outputs: Mapping[str, Any] = {}
        self.old_outputs: Mapping[str, Any] = {}
        self.op = "same"
        self.errors: list[str] = []
        self.changed: str | None = None

    def __call__(self, event: auto.EngineEvent) -> None:
        diagnostic = event.diagnostic_event
        if diagnostic and diagnostic.severity == "error" and (diagnostic.urn or "").endswith(OURS):
            self.errors.append(diagnostic.message.strip())
        if diagnostic and DRIFT_MARK in diagnostic.message:  # diff's word on who changed the tenant's value
            self.changed = diagnostic.message.partition(DRIFT_MARK)[2].partition(", ")[2].strip() or None
        step = event.resource_pre_event or event.res_outputs_event
        if step is None or not step.metadata.urn.endswith(f"::{SETTING_NAME}"):
            return
        self.op = str(step.metadata.op.value)
        if step.metadata.new is not None:
            self.inputs = step.metadata.new.inputs or {}
            self.outputs = step.metadata.new.outputs or self.outputs
        if step.metadata.old is not None:
            self.old_outputs = step.metadata.old.outputs or {}

    @property
    def old(self) -> SettingProperties | None:
        """The setting as the stack's state held it before the command; None when it had none."""
        return SettingProperties.of(self.old_outputs) if self.old_outputs else None

    @property
    def new(self) -> SettingProperties:
        """The setting as the command left it (its outputs, else the inputs `check` returned)."""
        return SettingProperties.of(self.outputs or self.inputs)

    def error(self, fallback: str) -> str:
        """What the provider raised (its message's first exception line), else the CLI's own line."""
        for message in reversed(self.errors):
            raised = [line.strip() for line in message.splitlines() if _EXCEPTION_NAME.match(line.strip())]
            if raised:
                return _EXCEPTION_NAME.sub("", raised[0])
        return self.errors[-1].splitlines()[0] if self.errors else fallback


def cli_failure(error: auto.errors.CommandError) -> str:
    """The last line the CLI wrote to stderr: one line saying what went wrong.

    Never stdout, which for `pulumi config --show-secrets` holds decrypted secrets.
    """
    stderr = str(error).rpartition("\n stderr: ")[2]  # CommandResult's layout: code, stdout, then stderr
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return (lines[-1] if lines else "the pulumi CLI failed without a message").removeprefix("error: ")


# A DIY backend names each lock it found: "\n  URL: created by USER@HOST (pid N) at RFC3339"
# (pulumi/pulumi pkg/backend/diy/lock.go, checkForLock); Pulumi Cloud answers "[409] Conflict:
# Another update is currently in progress." The Automation API raises ConcurrentUpdateError for both
# (pulumi/automation/errors.py, create_command_error).
_LOCK_HOLDER = re.compile(r"created by (?P<who>\S+) \(pid (?P<pid>\d+)\) at (?P<at>\S+)")
LOCK_WAIT_MAX_SECONDS = 3600  # --lock-wait's bound: a run waits at most an hour for another
_LOCK_RETRY_SECONDS = (1.0, 2.0, 4.0, 8.0, 15.0)  # then every 15 s until the wait is over


def lock_failure(stack: str, error: auto.errors.CommandError) -> str:
    """One line: the stack is locked, by which run when the backend says, and how to release it."""
    return (
        f"stack {stack} is locked {_lock_holder(error)}: let that run finish (or wait for it with --lock-wait SECONDS); "
        f"if it was killed, release the lock with `pulumi cancel --stack {stack}`"
    )


def _lock_holder(error: auto.errors.CommandError) -> str:
    """ "by another run (USER@HOST, pid N, since T)" as the backend names it, else "by another update"."""
    stderr = str(error).rpartition("\n stderr: ")[2]
    holders = [f"{m['who']}, pid {m['pid']}, since {m['at']}" for m in _LOCK_HOLDER.finditer(stderr)]
    return f"by another run ({one_line('; '.join(holders), 300)})" if holders else "by another update"


class Engine:
    """The project's stacks, driven through one Automation API workspace (the project directory)."""

    def __init__(
        self,
        project_dir: Path,
        program: Callable[[], None],
        *,
        lock_wait: float = 0.0,
        say: Callable[[str], None] = lambda _line: None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        """`lock_wait`: seconds a command waits for a stack another run holds locked (0: it fails at once);
        `say` gets a line when it starts waiting."""
        serialization_guard.install()  # the inline program serializes two providers per stack
        self._project_dir = project_dir
        self._program = program
        self._lock_wait = lock_wait
        self._say = say
        self._sleep = sleep
        self._workspace_made: auto.LocalWorkspace | EngineError | None = None
        self._backend_url = ""
        self._lock = threading.Lock()

    @property
    def _workspace(self) -> auto.LocalWorkspace:
        """Made on first use, the backend checked then: `fleet drift` on a converged fleet never starts the CLI."""
        with self._lock:
            if self._workspace_made is None:
                self._workspace_made = self._open()
            if isinstance(self._workspace_made, EngineError):  # every stack gets the one cause, asked once
                raise EngineError(str(self._workspace_made))
            return self._workspace_made

    def _open(self) -> auto.LocalWorkspace | EngineError:
        """The workspace, once `pulumi whoami` shows its backend usable; else what is wrong, and the fix."""
        try:
            workspace = auto.LocalWorkspace(
                work_dir=str(self._project_dir),
                program=self._program,
                env_vars={"PULUMI_RUNTIME_VIRTUALENV": sys.prefix, "PYTHONPATH": python_path(os.environ.get("PYTHONPATH"))},
            )
        except FileNotFoundError:  # the Automation API runs `pulumi version` first
            return EngineError(
                "the pulumi CLI is not on PATH: install Pulumi (https://www.pulumi.com/docs/install/) "
                "or put scripts/ensure-pulumi.sh's directory on PATH"
            )
        try:
            self._backend_url = workspace.who_am_i().url or ""
        except auto.errors.CommandError as error:
            return EngineError(
                f"the Pulumi backend cannot be used ({cli_failure(error).rstrip('.')}): log in with `pulumi login URL` "
                "(file://DIR, azblob://CONTAINER, s3://BUCKET) or set PULUMI_BACKEND_URL; for Pulumi Cloud, set "
                "PULUMI_ACCESS_TOKEN"
            )
        return workspace

    def check_backend(self) -> None:
        """EngineError, once, when the backend cannot be reached or logged in to (before any stack runs)."""
        _ = self._workspace

    def _stack(self, name: str, *, create: bool = False) -> auto.Stack:
        """The stack, through the public API; StackNotFoundError when it is not in the backend.

        `pulumi stack select` records the selection in the workspace's settings file, so
        selections go one at a time; every command after it names its stack (`--stack`).
        """
        workspace = self._workspace
        with self._lock:
            return (auto.Stack.create_or_select if create else auto.Stack.select)(name, workspace)

    def outputs(self, stack: str) -> StackOutputs | None:
        """The stack's outputs after its last `up`; None when it was never deployed."""
        try:
            outputs = self._stack(stack).outputs()
        except auto.errors.StackNotFoundError:
            return None
        except auto.errors.CommandError as error:
            raise EngineError(f"pulumi stack output --stack {stack}: {self.failure(error)}") from None
        return StackOutputs.of({name: output.value for name, output in outputs.items()}) if outputs else None

    def outputs_of(self, stacks: Iterable[str]) -> Callable[[str], StackOutputs | None]:
        """Each stack's outputs after its last `up` (None: never deployed), for many stacks at once: from
        the checkpoint files of a DIY backend on local disk (`checkpoint_outputs`), else, and for a stack
        those do not tell, `pulumi stack output` (`outputs`)."""
        project = self._workspace.project_settings().name
        found = checkpoint_outputs(self._backend_url, project, stacks)
        return lambda stack: found[stack] if stack in found else self.outputs(stack)

    def secret_config(self, stack: str) -> dict[str, str]:
        """The stack's config with its secrets decrypted (`pulumi config --show-secrets`)."""
        try:
            config = self._stack(stack).get_all_config()
        except auto.errors.CommandError as error:
            raise EngineError(f"pulumi config --stack {stack}: {self.failure(error)}") from None
        return {key: value.value for key, value in config.items()}

    def preview(self, outcome: Outcome) -> Outcome:
        """`pulumi preview`: what `up` would do; the live value as `check` read it.

        A stack missing from the backend is not previewed (that would create it): the row says
        NEVER_DEPLOYED without a live value, for the caller to read the tenant.
        """
        events = self._run(outcome, "preview")
        if events is not None:
            outcome.observe(SettingProperties.of(events.inputs).liveValue)
            if events.op == "create" and outcome.live == outcome.declared:
                outcome.action, outcome.reason = RECORD, ALREADY_THERE
            elif events.op in _CHANGES:
                outcome.action, outcome.reason = UPDATE, why_update(events.old, outcome.live)
                outcome.changed = events.changed
        return outcome

    def up(self, outcome: Outcome) -> Outcome:
        """`pulumi up --skip-preview`: converge; the PATCH's request-id when one was sent."""
        events = self._run(outcome, "up")
        if events is not None:
            outcome.observe(events.new.liveValue)
            request_id = events.new.lastPatchRequestId
            if request_id and request_id != (events.old.lastPatchRequestId if events.old else None):
                outcome.action, outcome.request_id = UPDATE, request_id
            elif events.op in _CHANGES:  # the state changed, the tenant did not: no PATCH
                outcome.action, outcome.reason = RECORD, ALREADY_THERE
        return outcome

    def refresh(self, outcome: Outcome) -> Outcome:
        """`pulumi refresh`: record the live value in state (never writes the tenant); a difference is reported."""
        events = self._run(outcome, "refresh")
        if events is None:
            return outcome
        if not events.outputs:  # the setting is not in the stack's state (never deployed, or its create failed)
            outcome.reason = "not in the stack's state: nothing to refresh until `up` records it"
            return outcome
        outcome.observe(events.new.liveValue)
        if outcome.live != outcome.declared:
            outcome.action, outcome.reason = UPDATE, why_update(events.old, outcome.live)
        return outcome

    def _run(self, outcome: Outcome, command: str) -> _Events | None:
        """`_run_once`, tried again while another run holds the stack locked, until `lock_wait` is over."""
        waited_until, attempt = time.monotonic() + self._lock_wait, 0
        while True:
            try:
                return self._run_once(outcome, command)
            except auto.errors.ConcurrentUpdateError as error:
                left = waited_until - time.monotonic()
                if left <= 0:
                    outcome.action, outcome.error = FAILED, lock_failure(outcome.stack, error)
                    return None
                if attempt == 0:
                    self._say(f"stack {outcome.stack} is locked {_lock_holder(error)}: waiting up to {self._lock_wait:.0f} s")
                self._sleep(min(_LOCK_RETRY_SECONDS[min(attempt, len(_LOCK_RETRY_SECONDS) - 1)], left))
                attempt += 1

    def _run_once(self, outcome: Outcome, command: str) -> _Events | None:
        """`stack.COMMAND(...)` with the inline program; None (and the outcome says why) when it did not run.

        `up` creates a stack missing from the backend, as pulumi/actions' `upsert` does;
        `preview` and `refresh` write nothing, so for them a missing stack is a fact to report.
        A stack locked by another run raises ConcurrentUpdateError.
        """
        events = _Events()
        try:
            try:
                stack = self._stack(outcome.stack, create=command == "up")
            except auto.errors.StackNotFoundError:
                if command == "preview":
                    outcome.action, outcome.reason = UPDATE, NEVER_DEPLOYED
                    return None
                raise
            getattr(stack, command)(on_event=events, color="never", **_OPTIONS[command])
        except auto.errors.ConcurrentUpdateError:
            raise
        except auto.errors.CommandError as error:
            outcome.action, outcome.error = FAILED, events.error(self.failure(error))
            return None
        return events

    def failure(self, error: auto.errors.CommandError) -> str:
        """The CLI's last line (`cli_failure`), or, when that is a bare `EOF` from a `file://` backend holding
        empty metadata files, which files to delete (`empty_sidecars_failure`)."""
        line = cli_failure(error)
        return empty_sidecars_failure(self._backend_url, line) or line
