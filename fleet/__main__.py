"""python -m fleet COMMAND: many tenant stacks at once (`python -m fleet --help` lists the commands).

See fleet/__init__.py for the package, fleet/cli.py for the command line and its exit codes.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import cache, partial
from pathlib import Path

from rich.console import Console

from fleet import doctor, onboard
from fleet.baseline import project_baseline, project_warn_days, verdict, with_verdict
from fleet.cli import STDOUT, parse
from fleet.consent import consent_url
from fleet.consent_status import consent_status, jobs_of
from fleet.drift import DriftCheck
from fleet.engine import Engine
from fleet.history import MOST
from fleet.outcome import (
    ALREADY_THERE,
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    FAILED,
    NEVER_DEPLOYED,
    NONE,
    RECORD,
    UPDATE,
    Outcome,
    exit_code,
)
from fleet.run import Work, run_all
from fleet.selection import changed_stacks, matching, shard_of
from fleet.shards import read_documents
from fleet.stacks import Decrypt, StackFile, find_stacks, resolve_tenants, shared_tenants
from fleet.writers.display import LiveProgress, print_history, print_summary
from fleet.writers.junit import junit_xml
from fleet.writers.links import Links
from fleet.writers.notify import needs_notice, notify
from fleet.writers.report import Provider, json_document, remove_stale_pages, write_pages
from fleet.writers.summary import markdown_summary
from program import declare
from providers.common.errors import BitlockerPolicyError, EngineError
from providers.common.outside_text import one_line
from providers.config.stack_config import config_dir
from providers.session import new_http_client
from providers.signin.discovery_cache import DiscoveryCache, default_path

Targets = Sequence[tuple[StackFile, str]]
# Tenants read at once by drift, report and history, each a thread with its own connections
# (providers/session.py, per_thread). The setting counts under Graph's identity and access limits
# (learn.microsoft.com/graph/throttling-limits): per app and tenant 3,500 ResourceUnits per 10 s at
# the least, where a tenant's run spends 1-2; per app across all tenants 150,000 per 20 s, where 64
# requests in flight at 100 ms spend about 6,400 per 10 s (9 %, and less as latency grows).
READERS = 64
FIRST_UP = "its first up (never deployed before)"  # the reason on the row of an `up` that deployed a stack


def fail(message: str) -> None:
    """An error: one line on stderr."""
    say("error", message)


def say(label: str, message: str) -> None:
    """One line on stderr, unwrapped (pipelines grep it), with nothing a terminal would act on."""
    print(f"{label}: {one_line(message, limit=10_000)}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the command; the exit code says how it went (fleet/cli.py)."""
    for stream in (sys.stdout, sys.stderr):  # a character a terminal cannot show never ends a run
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    args = parse(argv)
    if args.command == "summary":
        return summarize(args)
    if args.command == "onboard":
        return onboard.main(args, say)
    every = find_stacks(args.project)
    stacks = matching(every, args.stacks, args.shard)
    if not stacks and not args.shard and not getattr(args, "tenant", None):
        fail(no_match(args.project, args.stacks, [stack.name for stack in every]))
        return EXIT_CONFIG
    if args.command == "doctor":  # a tenant (--tenant) or each stack's, checked: fleet/doctor.py
        secrets = cache(Engine(args.project, declare, say=partial(say, "note")).secret_config)
        return writing(lambda: doctor.run(args, stacks, secrets))
    changed = stacks
    if getattr(args, "changed_since", None):
        try:
            changed = changed_stacks(args.project, args.changed_since, stacks)
        except BitlockerPolicyError as error:
            fail(str(error))
            return EXIT_CONFIG
    # The plan job checks the whole fleet for two stacks on one tenant, so that a pull request
    # adding a stack for a tenant another stack manages fails before it merges.
    checked = stacks if args.command == "matrix" else changed
    discovery = DiscoveryCache(default_path(), deferred=True)
    try:
        return run(args, changed, discovery, checked)
    except KeyboardInterrupt:
        fail("interrupted: stacks already running were let finish; `pulumi stack history --stack NAME` shows what each wrote")
        return 130
    finally:
        discovery.flush()


def writing(command: Callable[[], int]) -> int:
    """`command`'s exit code; 4 and one line when the file it writes (--json) cannot be written."""
    try:
        return command()
    except OSError as error:
        fail(f"could not write {error.filename}: {error.strerror}")
        return EXIT_FAILED


def no_match(project: Path, globs: list[str], names: list[str]) -> str:
    """No stack matched: which globs, and the names closest to them (or where the stacks are)."""
    close = {match for glob in globs for match in difflib.get_close_matches(glob, names, n=3, cutoff=0.5)}
    if close:
        hint = f"did you mean {', '.join(sorted(close))}?"
    elif names:
        hint = f"the project's {len(names)} stacks: {', '.join(names[:5])}{', …' if len(names) > 5 else ''}"
    else:
        hint = f"the project has no stack file ({config_dir(project)}/Pulumi.STACK.yaml)"
    return f"no stack in {project} matches {', '.join(globs)}; {hint}"


def run(args: argparse.Namespace, stacks: list[StackFile], discovery: DiscoveryCache, checked: list[StackFile]) -> int:
    """Resolve the tenants of `checked` (which holds `stacks`), refuse shared tenants, then run the command on `stacks`."""
    resolved = resolve_tenants(checked, discovery)
    conflicts = shared_tenants(resolved)
    for tenant, names in conflicts.items():
        fail(
            f"stacks {', '.join(names)} all manage tenant {tenant}; keep one stack per tenant "
            "(two would undo each other's setting on every run)"
        )
    if conflicts:
        return EXIT_CONFIG
    guids = {name: tenant for name, tenant in resolved.items() if isinstance(tenant, str)}
    targets = [(stack, guids[stack.name]) for stack in stacks if stack.name in guids]
    unresolved = [
        Outcome(stack.name, "", customer=stack.customer, action=FAILED, error=str(resolved[stack.name]))
        for stack in stacks
        if stack.name not in guids
    ]
    if args.command == "matrix":
        return matrix(args, targets, unresolved)
    if args.command == "consent-urls":
        return consent_urls(targets, unresolved, args.client_id)
    if args.command == "consent-status":
        apps = jobs_of(args.client_id, args.job)
        return writing(lambda: consent_status(targets, unresolved, apps, discovery, args.json, args.workers))
    if not stacks:
        print(f"fleet {args.command}: no stack to run (the shard holds none, or no change touched one)", file=sys.stderr)
    started = datetime.now(UTC)
    today = started.date()
    try:
        baseline, warn_days = project_baseline(args.project), project_warn_days(args.project)
        provider = Provider.from_project(args.project) if args.command == "report" else None  # the pages' header
    except (BitlockerPolicyError, ValueError) as error:
        fail(str(error))
        return EXIT_CONFIG
    engine = Engine(args.project, declare, lock_wait=getattr(args, "lock_wait", 0.0), say=partial(say, "note"))
    decrypt = cache(engine.secret_config)  # one `pulumi config` per stack whose secrets a command reads
    verdicts = {stack.name: verdict(stack, baseline, today, decrypt, warn_days) for stack in stacks}
    if args.command == "up":  # a deviation nobody approved is not written
        refused = [(stack, tenant) for stack, tenant in targets if verdicts[stack.name].violation]
        targets = [target for target in targets if target not in refused]
        unresolved += [
            Outcome(s.name, t, customer=s.customer, action=FAILED, error="refused by the baseline rule") for s, t in refused
        ]
    if args.command in ("preview", "up", "refresh", "report", "history") and targets:
        try:
            engine.check_backend()  # one line before anything runs, not the same failure on every stack
        except EngineError as error:
            fail(str(error))
            return EXIT_CONFIG
    outcomes = execute(args, targets, engine, decrypt, discovery, Console(stderr=True))
    by_stack = {outcome.stack: outcome for outcome in [*outcomes, *unresolved]}
    judged = [with_verdict(by_stack[stack.name], verdicts[stack.name], today) for stack in stacks]
    return finish(args, judged, started, provider)


def finish(args: argparse.Namespace, outcomes: list[Outcome], started: datetime | None, provider: Provider | None = None) -> int:
    """The exit code, the results (--json, --markdown, --junit, --notify; `report`'s pages under `provider`), then the table."""
    code = write_results(args, exit_code(args.command, outcomes), outcomes, started, provider)
    table_on = sys.stderr if _to_stdout(args) else sys.stdout
    # A terminal's own width; elsewhere (a CI log, a pipe) COLUMNS when set, else 80 (Rich reads COLUMNS itself).
    measured = table_on.isatty() or os.environ.get("COLUMNS", "").isdigit()
    console = Console(file=table_on, highlight=False, width=None if measured else 80)
    (print_history if args.command == "history" else print_summary)(console, args.command, outcomes)
    return code


def summarize(args: argparse.Namespace) -> int:
    """`summary`: the --json documents of one command's shards, as one run (one comment, one alert);
    the exit code is the one their rows make."""
    try:
        args.command, outcomes = read_documents(args.documents)
    except ValueError as error:
        fail(str(error))
        return EXIT_CONFIG
    args.shard = None
    return finish(args, outcomes, None)


def matrix(args: argparse.Namespace, targets: Targets, unresolved: list[Outcome]) -> int:
    """The pipeline's matrix on stdout: a leg per stack, or with --shards N a leg per shard that holds stacks."""
    for outcome in unresolved:
        fail(str(outcome.error))
    if unresolved:
        return EXIT_CONFIG
    if args.shards:
        sizes = dict.fromkeys(range(1, args.shards + 1), 0)
        for stack, _ in targets:
            sizes[shard_of(stack.name, args.shards)] += 1
        legs = [{"shard": f"{index}/{args.shards}", "stacks": size} for index, size in sizes.items() if size]
    else:
        legs = [{"stack": stack.name, "tenant": tenant} for stack, tenant in targets]
    print(json.dumps({"include": legs}))
    return EXIT_OK


def write_results(
    args: argparse.Namespace, code: int, outcomes: list[Outcome], started: datetime | None, provider: Provider | None = None
) -> int:
    """--json, --markdown, --junit, the report's page, then --notify; the exit code (4 when a file could not be written)."""
    links = Links.from_environment()  # the CI run's page and the published report, named by every writer
    outputs: list[tuple[Path | None, Callable[[], str]]] = [
        (getattr(args, "json", None), lambda: json.dumps(json_document(args.command, code, outcomes, links), indent=2) + "\n"),
        (getattr(args, "markdown", None), lambda: markdown_summary(args.command, code, outcomes, args.shard, links)),
        (getattr(args, "junit", None), lambda: junit_xml(args.command, outcomes, started, links).decode()),
    ]
    try:
        for target, render in outputs:
            if target is not None:
                _write(target, render())
        if args.command == "report":
            written = write_pages(args.out, args.format, outcomes, started or datetime.now(UTC), provider)
            removed = ", ".join(path.name for path in remove_stale_pages(args.out, written))
            line = f"report: {len(written) - 1} tenant pages and {written[-1]}" + (
                f"; removed earlier pages: {removed}" if removed else ""
            )
            print(one_line(line, limit=10_000), file=sys.stderr)
    except OSError as error:
        fail(f"could not write {error.filename}: {error.strerror}")
        code = EXIT_FAILED
    url = getattr(args, "notify", None)
    if url and needs_notice(args.command, outcomes):
        document = json_document(args.command, code, outcomes, links)
        problem = notify(url, args.notify_format, args.command, document, outcomes, links=links)
        if problem:
            fail(problem)  # the run's own exit code stands
    return code


def _write(target: Path, text: str) -> None:
    """Write `text` to the file, or to standard output for `-`."""
    if target == STDOUT:
        sys.stdout.write(text)
    else:
        target.write_text(text)


def _to_stdout(args: argparse.Namespace) -> bool:
    """Whether an output goes to standard output (the table then goes to stderr: data on stdout alone)."""
    return STDOUT in (getattr(args, name, None) for name in ("json", "markdown", "junit"))


def consent_urls(targets: Targets, unresolved: list[Outcome], client_ids: list[str] | None) -> int:
    """Print stack, tenant, app and admin-consent URL per line, for each app (--client-id, else the stack's own);
    a stack that has none is named on stderr."""
    code = 0
    for stack, tenant in targets:
        for client_id in client_ids or [""]:  # "": the stack's own app
            try:
                fields = (stack.name, tenant, *consent_url(stack, tenant, client_id))
                print("\t".join(one_line(field, limit=10_000) for field in fields))
            except BitlockerPolicyError as error:
                fail(str(error))
                code = EXIT_FAILED
    for outcome in unresolved:
        fail(str(outcome.error))
    return EXIT_FAILED if unresolved else code


def execute(
    args: argparse.Namespace, targets: Targets, engine: Engine, decrypt: Decrypt, discovery: DiscoveryCache, console: Console
) -> list[Outcome]:
    """Run the command over the targets with live progress; one outcome per target."""
    engine_workers = args.workers or os.cpu_count() or 1
    readers = args.workers or READERS
    with new_http_client(per_thread=True) as http:
        history = MOST if args.command in ("history", "report") else 0
        # `history` and `report` show every stack's last PATCH: all stacks' outputs read at once.
        last_outputs = engine.outputs_of(stack.name for stack, _ in targets) if history and targets else engine.outputs
        check = DriftCheck(http, discovery, last_outputs, decrypt, history=history, every=args.command == "history")
        if args.command in ("drift", "report", "history") or getattr(args, "only_drifted", False):
            with LiveProgress("drift" if args.command == "up" else args.command, len(targets), console) as progress:
                outcomes = run_all(targets, check, readers, progress)
            if args.command != "up":
                return outcomes
            found = {outcome.stack: outcome for outcome in outcomes if outcome.action == UPDATE}
            drifted = [target for target in targets if target[0].name in found]
            converged = run_engine("up", drifted, lambda _stack, outcome: engine.up(outcome), decrypt, engine_workers, console)
            for outcome in converged:  # what drift found (why, who changed it) stays on the row up writes
                why = found[outcome.stack].reason
                outcome.reason = outcome.reason or (FIRST_UP if why == NEVER_DEPLOYED else why)  # deployed now
                outcome.changed = found[outcome.stack].changed
            by_stack = {outcome.stack: outcome for outcome in converged}
            return [by_stack.get(outcome.stack, outcome) for outcome in outcomes]
        if args.command == "preview":
            return run_engine("preview", targets, partial(preview, engine, check), decrypt, engine_workers, console)
        work = {"up": engine.up, "refresh": engine.refresh}[args.command]
        return run_engine(args.command, targets, lambda _stack, outcome: work(outcome), decrypt, engine_workers, console)


def preview(engine: Engine, check: DriftCheck, stack: StackFile, outcome: Outcome) -> Outcome:
    """The engine's preview; for a stack not in the backend yet, the tenant read to say what `up` will do."""
    engine.preview(outcome)
    if outcome.reason == NEVER_DEPLOYED and not outcome.live_read:
        outcome.action = NONE
        check(stack, outcome)
        if outcome.action == NONE:
            outcome.action, outcome.reason = RECORD, ALREADY_THERE
    return outcome


def run_engine(command: str, targets: Targets, work: Work, decrypt: Decrypt, workers: int, console: Console) -> list[Outcome]:
    """An engine command per stack whose declared value is valid, each row starting with that value."""

    def declared_then(stack: StackFile, outcome: Outcome) -> Outcome:
        # A value the program would refuse fails here, without an engine run (and for a
        # stack not yet in the backend, which `preview` does not create, it is the only check).
        outcome.declared = stack.settings(decrypt).declared()
        return work(stack, outcome)

    with LiveProgress(command, len(targets), console) as progress:
        return run_all(targets, declared_then, workers, progress)


if __name__ == "__main__":
    sys.exit(main())
