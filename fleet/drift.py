"""`fleet drift`: each tenant's live value against its declaration, with no engine and no write.

A stack's settings are resolved as its program and provider get them (StackFile.settings:
the stack file over Pulumi.yaml, secrets through the CLI, then the environment) and the
tenant is read with the provider's own Session and Graph client: one token and one GET per
tenant, on one HTTP client and one discovery cache for the whole fleet. Only a tenant that
disagrees with its declaration costs more: an engine call, to read the stack's last outputs
and tell drift from a declared change not yet applied, and one read of Entra's audit log, to
say who changed it and when (providers/graph/audit.py), whose pages also give the recovery-key reads
(`keyReads`) at no request of their own. A converged tenant costs no audit read in `drift` nor
in `report` (its page shows the declared and live values and our last PATCH, from the stack's
outputs, which `report` reads for all stacks at once: Engine.outputs_of); `history`, whose
table is the log, reads every tenant's log once. That read is context: it has a budget of its
own and never fails a row, changes its action or its exit code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import httpx

from fleet.history import history_rows
from fleet.outcome import UPDATE, Outcome, why_update
from fleet.stacks import Decrypt, StackFile
from providers.common.deadline import operation_deadline
from providers.graph.audit import ChangeLookup, changes, last_change
from providers.graph.authorization_policy import BITLOCKER_KEYS
from providers.graph.client import GraphClient
from providers.properties import StackOutputs
from providers.session import Session
from providers.signin.discovery_cache import DiscoveryCache

__all__ = ["DriftCheck"]


class DriftCheck:
    """Reads tenants for a fleet; call it with a stack and its tenant GUID, from many threads at once."""

    def __init__(
        self,
        http: httpx.Client,
        discovery: DiscoveryCache,
        last_outputs: Callable[[str], StackOutputs | None],
        decrypt: Decrypt,
        *,
        history: int = 0,
        every: bool = False,
    ):
        """`history`: also read every stack's last outputs (its last PATCH) and up to that many changes
        from the audit log: for a tenant that disagrees (report's pages), or with `every` for each
        tenant, converged or not (`fleet history`)."""
        self._http = http
        self._discovery = discovery
        self._last_outputs = last_outputs
        self._decrypt = decrypt
        self._history = history
        self._every = every

    def __call__(self, stack: StackFile, outcome: Outcome) -> Outcome:
        """Fill `outcome` with the declared and live values, and why they differ."""
        sources = stack.settings(self._decrypt)
        outcome.declared = sources.declared()
        session = Session(sources, http_factory=lambda: self._http, discovery=self._discovery)
        with operation_deadline(session.configuration.deadline_seconds):
            graph = session.graph_client(outcome.tenant)
            outcome.observe(graph.read(BITLOCKER_KEYS))
            last = self._last_outputs(stack.name) if self._history else None
            if last:
                outcome.last_patch_at, outcome.last_patch_request_id = last.lastPatchAt, last.lastPatchRequestId
            found = self._changes(graph, outcome, last) if self._every else None
            if outcome.live == outcome.declared:
                return outcome
            if not self._history:  # read above otherwise
                last = self._last_outputs(stack.name)
            # Right after our own `up`, Graph may still serve the old value: re-read within the
            # stack's consistency window before calling it drift, as the provider does.
            written, written_at = (last.allowedToReadBitlockerKeysForOwnedDevice, last.lastPatchAt) if last else (None, None)
            outcome.observe(session.settled_live_value(outcome.tenant, BITLOCKER_KEYS, written, written_at, outcome.live))
            if outcome.live != outcome.declared:
                outcome.action, outcome.reason = UPDATE, why_update(last, outcome.live)
                if self._history and found is None:
                    found = self._changes(graph, outcome, last)
                if not last or last.allowedToReadBitlockerKeysForOwnedDevice != outcome.live:  # else our own pending change
                    who = _who_changed(graph, outcome.live, found)
                    outcome.changed = who.describe()
                    outcome.key_reads = who.key_reads.to_json() if who.key_reads else None
        return outcome

    def _changes(self, graph: GraphClient, outcome: Outcome, last: StackOutputs | None) -> ChangeLookup:
        """The tenant's last changes from the audit log (one read), onto the row as history and key reads."""
        found = changes(graph, most=self._history)
        outcome.history = history_rows(found, last)
        outcome.key_reads = found.key_reads.to_json() if found.key_reads else None
        return found


def _who_changed(graph: GraphClient, live: bool | None, history: ChangeLookup | None) -> ChangeLookup:
    """Who made the live value, from the history already read when it tells (or says why it cannot),
    else from one lookup of the audit log. Best effort: never raises (providers/graph/audit.py)."""
    if history is not None:
        newest = next((change for change in history.changes if change.made(live)), None)
        if newest or history.unknown or history.untied:
            return replace(history, changes=(newest,) if newest else ())
    return last_change(graph, live)
