"""python -m fleet COMMAND: many tenant stacks at once.

  matrix         the stacks as JSON for a CI matrix (each with its tenant GUID)
  drift          read every tenant's live value and compare it with its stack (no engine, no write)
  preview        `pulumi preview` of every stack (Automation API, bounded workers)
  up             `pulumi up` of every stack; with --only-drifted, just those `drift` flags
  refresh        `pulumi refresh` of every stack
  report         `drift`, written as a Markdown or HTML page (--out) for a customer
  consent-urls   the admin-consent URL of each stack's app in its tenant

Exit codes: 0 converged (or done); 2 nothing ran (bad arguments, no stack matched, two
stacks on one tenant); 3 drift or preview found a tenant that differs from its stack;
4 some stack failed, its tenant unresolvable included (the others still ran; the table
says which and why); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from fnmatch import fnmatch
from pathlib import Path

from rich.console import Console

from program import declare
from providers.discovery_cache import DiscoveryCache, default_path
from providers.errors import BitlockerPolicyError
from providers.outside_text import one_line
from providers.session import new_http_client
from providers.settings import DESIRED_VALUE, declared_value

from .consent import consent_url
from .display import LiveProgress, summary_table
from .drift import DriftCheck
from .engine import Engine
from .outcome import EXIT_CONFIG, EXIT_FAILED, FAILED, UPDATE, Outcome, exit_code
from .report import write_json, write_page
from .run import run_all
from .stacks import StackFile, find_stacks, resolve_tenants, shared_tenants

COMMANDS = ("matrix", "drift", "preview", "up", "refresh", "report", "consent-urls")
Targets = Sequence[tuple[StackFile, str]]


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m fleet", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("--project", type=Path, default=Path.cwd(), help="the project directory (default: here)")
    parser.add_argument("--stacks", default="*", metavar="GLOB", help="only the stacks whose names match (default: all)")
    parser.add_argument(
        "--workers", type=int, default=None, metavar="N", help="stacks at once (default: cores for the engine, 16 for drift)"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the summary as JSON")
    parser.add_argument("--only-drifted", action="store_true", help="up: converge only the stacks `drift` flags")
    parser.add_argument("--out", type=Path, default=Path("bitlocker-report.md"), help="report: the page (.md or .html)")
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.only_drifted and args.command != "up":
        parser.error("--only-drifted goes with up only")
    return args


def fail(message: str) -> None:
    """One line on stderr, unwrapped (pipelines grep it), with nothing a terminal would act on."""
    print(f"error: {one_line(message, limit=10_000)}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the command; the exit code says how it went (see the module docstring)."""
    args = parse(argv)
    stacks = [stack for stack in find_stacks(args.project) if fnmatch(stack.name, args.stacks)]
    if not stacks:
        fail(f"no stack in {args.project} matches {args.stacks!r}")
        return EXIT_CONFIG
    discovery = DiscoveryCache(default_path(), deferred=True)
    try:
        return run(args, stacks, discovery)
    except KeyboardInterrupt:
        fail("interrupted: stacks already running were let finish; `pulumi stack history --stack NAME` shows what each wrote")
        return 130
    finally:
        discovery.flush()


def run(args: argparse.Namespace, stacks: list[StackFile], discovery: DiscoveryCache) -> int:
    """Resolve every stack's tenant, refuse shared tenants, then run the command."""
    resolved = resolve_tenants(stacks, discovery)
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
    unresolved = [Outcome(name, "", action=FAILED, error=str(error)) for name, error in resolved.items() if name not in guids]
    if args.command == "matrix":
        for outcome in unresolved:
            fail(str(outcome.error))
        if unresolved:
            return EXIT_CONFIG
        print(json.dumps({"include": [{"stack": stack.name, "tenant": tenant} for stack, tenant in targets]}))
        return 0
    if args.command == "consent-urls":
        return consent_urls(targets, unresolved)
    by_stack = {outcome.stack: outcome for outcome in [*execute(args, targets, discovery, Console(stderr=True)), *unresolved]}
    outcomes = [by_stack[stack.name] for stack in stacks]
    code = exit_code(args.command, outcomes)
    try:
        if args.json:
            write_json(args.json, args.command, code, outcomes)
        if args.command == "report":
            write_page(args.out, outcomes)
    except OSError as error:
        fail(f"could not write {error.filename}: {error.strerror}")
        code = EXIT_FAILED
    Console(highlight=False, width=200 if not sys.stdout.isatty() else None).print(summary_table(args.command, outcomes))
    return code


def consent_urls(targets: Targets, unresolved: list[Outcome]) -> int:
    """Print stack, tenant and admin-consent URL per line; a stack that has none is named on stderr."""
    code = 0
    for stack, tenant in targets:
        try:
            print("\t".join(one_line(field, limit=10_000) for field in (stack.name, tenant, consent_url(stack, tenant))))
        except BitlockerPolicyError as error:
            fail(str(error))
            code = EXIT_FAILED
    for outcome in unresolved:
        fail(str(outcome.error))
    return EXIT_FAILED if unresolved else code


def execute(args: argparse.Namespace, targets: Targets, discovery: DiscoveryCache, console: Console) -> list[Outcome]:
    """Run the command over the targets with live progress; one outcome per target."""
    engine = Engine(args.project, declare)
    engine_workers = args.workers or os.cpu_count() or 1
    if args.command in ("drift", "report") or args.only_drifted:
        outcomes = run_drift(targets, engine, discovery, args.workers or 16, console)
        if args.command != "up":
            return outcomes
        flagged = {outcome.stack for outcome in outcomes if outcome.action == UPDATE}
        converged = run_engine("up", [t for t in targets if t[0].name in flagged], engine.up, engine_workers, console)
        by_stack = {outcome.stack: outcome for outcome in converged}
        return [by_stack.get(outcome.stack, outcome) for outcome in outcomes]
    work = {"preview": engine.preview, "up": engine.up, "refresh": engine.refresh}[args.command]
    return run_engine(args.command, targets, work, engine_workers, console)


def run_drift(targets: Targets, engine: Engine, discovery: DiscoveryCache, workers: int, console: Console) -> list[Outcome]:
    """Every tenant read concurrently on one HTTP client and one discovery cache."""
    with new_http_client() as http, LiveProgress("drift", len(targets), console) as progress:
        return run_all(targets, DriftCheck(http, discovery, engine.outputs, engine.secret_config), workers, progress)


def run_engine(
    command: str, targets: Targets, work: Callable[[Outcome], Outcome], workers: int, console: Console
) -> list[Outcome]:
    """An engine command per stack whose declared value is valid, each row starting with that value."""

    def declared_then(stack: StackFile, outcome: Outcome) -> Outcome:
        # A value the program would refuse fails here, without an engine run (and for a
        # stack not yet in the backend, which `preview` does not create, it is the only check).
        outcome.declared = declared_value(stack.sources.get(DESIRED_VALUE))
        return work(outcome)

    with LiveProgress(command, len(targets), console) as progress:
        return run_all(targets, declared_then, workers, progress)


if __name__ == "__main__":
    sys.exit(main())
