"""`preview`, `up` and `refresh` of one tenant stack through Pulumi's Automation API.

The project's own `__main__.py` runs as an *inline* program, in this process: no language
host and no program process per stack (measured: 20 converged stacks previewed with 4
workers in 10.3 s inline, 13.2 s as a local program, 20.1 s in a `pulumi preview` loop;
bench/fleet.py). The engine still starts the dynamic provider in the project directory,
where it imports `providers` as under the CLI (pulumi/pulumi#7960: an inline program's
provider must be importable there), with this interpreter's environment
(PULUMI_RUNTIME_VIRTUALENV), which has the project's requirements since the fleet runs in it.

Every command the Automation API runs names its stack (`--stack`), so the fleet addresses
stacks directly instead of `pulumi stack select`-ing each one first (a CLI process per
stack saved); `up` creates a stack not yet in the backend, as pulumi/actions' `upsert`
does, while `preview` reports it as never deployed. The engine's event stream gives each
stack's live value, the PATCH's request-id and the provider's one-line error. (The
Automation API's `up` itself runs `pulumi stack output` and `pulumi stack history` after
the update; the fleet does not use them.)
"""

from __future__ import annotations

import pickle
import re
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from types import CodeType
from typing import Any

from pulumi import automation as auto
from pulumi.dynamic import dynamic as pulumi_dynamic

from providers.bitlocker import LAST_PATCH, LIVE
from providers.errors import EngineError

from .outcome import FAILED, NONE, UPDATE, Outcome, why_update

__all__ = ["Engine"]

SETTING = "bitlocker-key-access"  # the program's BitlockerKeyAccess resource name (__main__.py)
OURS = (f"::{SETTING}", "::bitlocker-adoption")  # the URNs of the program's two resources end so
# The dynamic-provider host reports `module.Class: message` (gRPC may prefix its own words).
_EXCEPTION_NAME = re.compile(r"^(?:Exception calling application: )?(?:(?:\w+\.)*\w*(?:Error|Exception): )+")
_CHANGES = {"create", "update", "replace", "create-replacement", "delete-replaced"}


class _Addressed(auto.Stack):
    """A stack of the workspace by name, without `pulumi stack select` (each command passes --stack)."""

    def __init__(self, name: str, workspace: auto.Workspace):
        self.name = name
        self.workspace = workspace


class _Events:
    """What the engine reported about the setting while one command ran."""

    def __init__(self) -> None:
        self.inputs: Mapping[str, Any] = {}
        self.outputs: Mapping[str, Any] = {}
        self.old_outputs: Mapping[str, Any] = {}
        self.op = "same"
        self.errors: list[str] = []

    def __call__(self, event: auto.EngineEvent) -> None:
        diagnostic = event.diagnostic_event
        if diagnostic and diagnostic.severity == "error" and (diagnostic.urn or "").endswith(OURS):
            self.errors.append(diagnostic.message.strip())
        step = event.resource_pre_event or event.res_outputs_event
        if step is None or not step.metadata.urn.endswith(f"::{SETTING}"):
            return
        self.op = str(step.metadata.op.value)
        if step.metadata.new is not None:
            self.inputs = step.metadata.new.inputs or {}
            self.outputs = step.metadata.new.outputs or self.outputs
        if step.metadata.old is not None:
            self.old_outputs = step.metadata.old.outputs or {}

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


_serializing = threading.Lock()


def _serialize_provider_without_leaking(provider: Any) -> str:
    """pulumi.dynamic's serialize_provider, one at a time, leaving `pickle` as it found it.

    Pulumi's own (sdk/python/lib/pulumi/dynamic/dynamic.py, 3.272) wraps
    `pickle._Pickler._batch_setitems` and `save_dict` to sort dictionaries and never puts
    them back, so each call wraps the previous call's wrapper. A program process serializes
    two providers and exits; an inline fleet run serializes two per stack, and measured here
    the ~480th stack died with RecursionError (as in pulumi/pulumi#17803). Threads would
    also wrap each other's wrappers. This restores both methods after each call, under a lock.
    """
    with _serializing:
        saved = pickle._Pickler._batch_setitems, pickle._Pickler.save_dict  # type: ignore[attr-defined]
        try:
            return str(_PULUMI_SERIALIZE_PROVIDER(provider))
        finally:
            pickle._Pickler._batch_setitems, pickle._Pickler.save_dict = saved  # type: ignore[attr-defined]


_PULUMI_SERIALIZE_PROVIDER = pulumi_dynamic.serialize_provider
pulumi_dynamic.serialize_provider = _serialize_provider_without_leaking


class Engine:
    """The project's stacks, driven through one Automation API workspace (the project directory)."""

    def __init__(self, project_dir: Path):
        self._project_dir = project_dir
        self._workspace_made: auto.LocalWorkspace | None = None
        self._lock = threading.Lock()
        self._program_path = project_dir / "__main__.py"
        self._program_code: CodeType | None = None

    @property
    def _workspace(self) -> auto.LocalWorkspace:
        """Made on first use: `fleet drift` on a converged fleet never starts the CLI."""
        with self._lock:
            if self._workspace_made is None:
                self._workspace_made = auto.LocalWorkspace(
                    work_dir=str(self._project_dir), env_vars={"PULUMI_RUNTIME_VIRTUALENV": sys.prefix}
                )
            return self._workspace_made

    def outputs(self, stack: str) -> dict[str, Any] | None:
        """The stack's outputs after its last `up`; None when it was never deployed."""
        try:
            outputs = _Addressed(stack, self._workspace).outputs()
        except auto.errors.StackNotFoundError:
            return None
        except auto.errors.CommandError as error:
            raise EngineError(f"pulumi stack output --stack {stack}: {cli_failure(error)}") from None
        return {name: output.value for name, output in outputs.items()} or None

    def secret_config(self, stack: str) -> dict[str, str]:
        """The stack's config with its secrets decrypted (`pulumi config --show-secrets`)."""
        try:
            config = _Addressed(stack, self._workspace).get_all_config()
        except auto.errors.CommandError as error:
            raise EngineError(f"pulumi config --stack {stack}: {cli_failure(error)}") from None
        return {key: value.value for key, value in config.items()}

    def preview(self, outcome: Outcome) -> Outcome:
        """`pulumi preview`: what `up` would do; the live value as `check` read it."""
        events = self._run(outcome, "preview")
        if events is not None:
            outcome.observe(events.inputs.get(LIVE))
            outcome.action = UPDATE if events.op in _CHANGES else NONE
            if outcome.action == UPDATE:
                outcome.reason = why_update(events.old_outputs, outcome.live)
        return outcome

    def up(self, outcome: Outcome) -> Outcome:
        """`pulumi up --skip-preview`: converge; the PATCH's request-id when one was sent."""
        events = self._run(outcome, "up")
        if events is not None:
            outcome.observe(events.outputs.get(LIVE))
            outcome.action = UPDATE if events.op in _CHANGES else NONE
            request_id = events.outputs.get(LAST_PATCH)
            if request_id and request_id != events.old_outputs.get(LAST_PATCH):
                outcome.request_id = request_id
        return outcome

    def refresh(self, outcome: Outcome) -> Outcome:
        """`pulumi refresh`: record the live value in state (never writes the tenant)."""
        events = self._run(outcome, "refresh")
        if events is not None:
            outcome.observe(events.outputs.get(LIVE))
        return outcome

    def _program(self) -> None:
        """The inline program: the project's __main__.py, as the CLI would run it.

        Compiled once and run with exec, as runpy would, but without runpy's process-wide
        swaps of sys.argv[0] and sys.modules, which are not safe across threads.
        """
        if self._program_code is None:  # two threads may both compile it: the same code
            self._program_code = compile(self._program_path.read_text(), str(self._program_path), "exec")
        exec(self._program_code, {"__name__": "__pulumi_program__", "__file__": str(self._program_path)})  # noqa: S102

    def _run(self, outcome: Outcome, command: str) -> _Events | None:
        """`stack.COMMAND(...)` with the inline program; None (and the outcome says why) when it did not run.

        `up` creates a stack missing from the backend, as pulumi/actions' `upsert` does;
        `preview` and `refresh` write nothing, so for them a missing stack is a fact to report.
        """
        stack = _Addressed(outcome.stack, self._workspace)
        events = _Events()
        try:
            try:
                getattr(stack, command)(on_event=events, color="never", program=self._program)
            except auto.errors.StackNotFoundError:
                if command == "preview":
                    outcome.action, outcome.reason = UPDATE, "never deployed"
                    return None
                if command != "up":
                    raise
                self._workspace.create_stack(outcome.stack)
                events = _Events()
                stack.up(on_event=events, color="never", program=self._program)
        except auto.errors.CommandError as error:
            outcome.action, outcome.error = FAILED, events.error(cli_failure(error))
            return None
        return events
