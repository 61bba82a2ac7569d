"""The fleet's command line: one subcommand each, with only the flags that mean something for it."""

from __future__ import annotations

import argparse
import os
import re
import sys
import unicodedata
from pathlib import Path
from typing import NoReturn

from fleet.engine import LOCK_WAIT_MAX_SECONDS
from fleet.onboard import OWNED
from fleet.selection import Shard, parse_shard
from fleet.writers.notify import FORMATS
from fleet.writers.report import out_problem
from providers.common.version import version
from providers.config.settings import (
    CLIENT_CERTIFICATE,
    CLIENT_CERTIFICATE_PASSWORD,
    CLIENT_SECRET,
    OIDC_REQUEST_TOKEN,
    OIDC_TOKEN,
)

__all__ = ["NOTIFY_FORMAT", "NOTIFY_URL", "PAGE_FORMATS", "STDOUT", "parse"]

NOTIFY_URL = "BITLOCKER_POLICY_NOTIFY_URL"  # where --notify's URL may come from instead (it is a secret)
NOTIFY_FORMAT = "BITLOCKER_POLICY_NOTIFY_FORMAT"  # and its format, so that a pipeline sets both in one place
STDOUT = Path("-")  # an output file named `-`: standard output
PAGE_FORMATS = ("html", "md")
# What a report's --out must not end in: it names a directory, and these name pages or documents.
_FILE_SUFFIXES = (".html", ".htm", ".md", ".markdown", ".pdf", ".txt", ".json", ".xml", ".csv")

USAGE = """\
  matrix         the stacks as JSON for a CI matrix, each with its tenant GUID (--shards N: shard legs)
  drift          read every tenant's live value and compare it with its stack (no engine, no write)
  preview        `pulumi preview` of every stack (Automation API, bounded workers)
  up             `pulumi up` of every stack; with --only-drifted, just those `drift` flags
  refresh        `pulumi refresh` of every stack
  history        each tenant's last changes: when, from, to, by whom (Entra's audit log; ours with its request-id)
  report         `drift`, written as a page per customer and an index (--out DIR, --format html|md)
  consent-urls   the admin-consent URL of each stack's app in its tenant (--client-id: these apps)
  consent-status whether each app signs in to each tenant with its job's roles, and the URL to consent
  onboard        stack files and backend stacks from a customer CSV (--csv) or the GDAP customers (--gdap)
  summary        shards' --json documents as one run: one --markdown, --junit, --notify for them all
  doctor         what the product assumes about a tenant (--tenant) or each stack's, checked: what it saw

Exit codes: 0 converged (or done); 2 nothing ran (bad arguments, no stack matched, two
stacks on one tenant, a backend that cannot be used); 3 drift, preview, report or refresh
found a tenant that differs from its stack; 4 some stack failed, its tenant unresolvable
included (the others still ran; the table says which and why); 5 some stack breaks the
baseline rule (a deviation without an exception, or with an expired one), in any command and
whatever else the run found; 130 interrupted (Ctrl-C). doctor: 0 no check found a problem,
3 one did. consent-status: 0 every app consented, 3 a consent is missing, 4 otherwise.
"""


def _shard(text: str) -> Shard:
    try:
        return parse_shard(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a shard I/N with 1 <= I <= N") from None


def _directory(text: str) -> Path:
    if not text.strip():  # Path("") is the current directory
        raise argparse.ArgumentTypeError("is empty: name a directory for the pages (default: bitlocker-report)")
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in text):
        raise argparse.ArgumentTypeError("holds a control or format character: name a directory in plain characters")
    return Path(text)


def _project(text: str) -> Path:
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text} is no directory: name the one that holds Pulumi.yaml")
    return Path(text)


def _workers(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return int(text)


def _lock_wait(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= LOCK_WAIT_MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"must be seconds from 0 to {LOCK_WAIT_MAX_SECONDS}")
    return seconds


def _config_pair(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or ":" not in key or not key.strip():
        raise argparse.ArgumentTypeError("must be NAMESPACE:KEY=VALUE, e.g. azuread:useOidc=true")
    if key in OWNED:
        raise argparse.ArgumentTypeError(f"{key} is the import's own: it comes from the CSV, GDAP or --declare")
    if key in _SECRET_KEYS:
        raise argparse.ArgumentTypeError(
            f"{key} is a secret: stack files are committed; set it with `pulumi config set --secret` or its environment variable"
        )
    return key, value


# Keys whose value is a credential: never written into a stack file in plain text.
_SECRET_KEYS = frozenset(
    setting.key for setting in (CLIENT_SECRET, CLIENT_CERTIFICATE, CLIENT_CERTIFICATE_PASSWORD, OIDC_TOKEN, OIDC_REQUEST_TOKEN)
)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose refusals quote no URL past its host.

    argparse quotes what it refuses ("unrecognized arguments: --notify https://hooks…/T0/B0/SECRET"
    for a command that takes no --notify), and a webhook's path and query are its secret.
    """

    def error(self, message: str) -> NoReturn:
        super().error(_URL_PATH.sub(r"\1/…", message))


_URL_PATH = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s?#]*)[/?#]\S*")


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line; argparse refuses a flag the command does not take (exit 2)."""
    selection = _Parser(add_help=False)
    selection.add_argument("--project", type=_project, default=Path.cwd(), help="the project directory (default: here)")
    selection.add_argument(
        "--stacks",
        action="append",
        metavar="GLOB",
        help="only the stacks whose names match; repeat it or separate globs with commas (default: all)",
    )
    selection.add_argument("--shard", type=_shard, metavar="I/N", help="only the stacks of shard I of N (see matrix --shards)")

    running = _Parser(add_help=False)
    running.add_argument(
        "--workers", type=_workers, metavar="N", help="stacks at once (default: the cores for the engine, 64 to read)"
    )
    running.add_argument("--json", type=Path, metavar="FILE", help="also write the rows as JSON (- for standard output)")

    results = _Parser(add_help=False)
    results.add_argument("--markdown", type=Path, metavar="FILE", help="a Markdown summary, for a PR comment or a run summary")
    results.add_argument("--junit", type=Path, metavar="FILE", help="JUnit XML, one testcase per stack")
    results.add_argument(
        "--notify",
        metavar="URL",
        default=os.environ.get(NOTIFY_URL),
        help=f"post once to this webhook when a stack drifted or failed (a secret: prefer {NOTIFY_URL})",
    )
    results.add_argument(
        "--notify-format",
        choices=tuple(FORMATS),
        default=os.environ.get(NOTIFY_FORMAT) or "json",
        help=f"the webhook's format (default: {NOTIFY_FORMAT}, else json)",
    )

    engine = _Parser(add_help=False)
    engine.add_argument(
        "--lock-wait",
        type=_lock_wait,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for a stack another run holds locked (default: fail at once, naming `pulumi cancel`)",
    )

    parser = _Parser(
        prog="python -m fleet",
        description="Many tenant stacks at once.\n\n" + USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    changes = _Parser(add_help=False)
    changes.add_argument("--changed-since", metavar="REF", help="only the stacks a change since REF touches (git)")

    matrix = commands.add_parser("matrix", parents=[selection, changes], description="the stacks as JSON for a CI matrix")
    matrix.add_argument("--shards", type=_workers, metavar="N", help="N shard legs instead of one leg per stack")
    commands.add_parser("drift", parents=[selection, running, results], description="compare every tenant with its stack")
    commands.add_parser(
        "preview", parents=[selection, changes, running, engine, results], description="pulumi preview of every stack"
    )
    up = commands.add_parser("up", parents=[selection, running, engine, results], description="pulumi up of every stack")
    up.add_argument("--only-drifted", action="store_true", help="converge only the stacks `drift` flags")
    commands.add_parser("refresh", parents=[selection, running, engine], description="pulumi refresh of every stack")
    commands.add_parser(
        "history", parents=[selection, running], description="each tenant's last changes of the setting, and by whom"
    )
    report = commands.add_parser("report", parents=[selection, running], description="drift, as a page per customer")
    report.add_argument("--out", type=_directory, default=Path("bitlocker-report"), metavar="DIR", help="the pages' directory")
    report.add_argument("--format", choices=PAGE_FORMATS, default="html", help="html (default) or md")
    consent = commands.add_parser("consent-urls", parents=[selection], description="each stack's admin-consent URL")
    consent.add_argument(
        "--client-id",
        action="append",
        metavar="ID",
        help="this app instead of each stack's own (repeat it: a read and a write app)",
    )
    status = commands.add_parser("consent-status", parents=[selection], description="each app's sign-in and roles per tenant")
    status.add_argument(
        "--client-id", action="append", metavar="ID", help="the read app, then the write app (default: each stack's own)"
    )
    status.add_argument("--job", choices=("read", "write", "both"), help="the roles one --client-id needs (default: both)")
    status.add_argument("--workers", type=_workers, default=16, metavar="N", help="tenants at once (default: 16)")
    status.add_argument("--json", type=Path, metavar="FILE", help="also write the rows as JSON (- for standard output)")
    onboard = commands.add_parser("onboard", description="stack files and backend stacks for customers")
    onboard.add_argument("--project", type=_project, default=Path.cwd(), help="the project directory (default: here)")
    customers = onboard.add_mutually_exclusive_group(required=True)
    customers.add_argument("--csv", type=Path, metavar="FILE", help="tenant,customer,declared[,reason,approvedBy,expires]")
    customers.add_argument("--gdap", metavar="PARTNER_TENANT", help="the partner tenant's GDAP customers (its app: ARM_*)")
    onboard.add_argument(
        "--declare", choices=("true", "false"), help="the declared value where the CSV gives none (GDAP: required)"
    )
    onboard.add_argument("--config", type=_config_pair, action="append", metavar="KEY=VALUE", help="also in every new stack")
    onboard.add_argument("--dry-run", action="store_true", help="print what would be written; write and create nothing")
    summary = commands.add_parser("summary", parents=[results], description="the --json documents of shards, as one run")
    summary.add_argument("documents", nargs="+", type=Path, metavar="FILE", help="`--json` documents of one command's shards")

    doctor = commands.add_parser("doctor", parents=[selection], description="check what the product assumes about each tenant")
    doctor.add_argument("--tenant", metavar="TENANT", help="this tenant, with settings from the environment (no stack needed)")
    doctor.add_argument(
        "--job", choices=("read", "write", "both"), help="the job whose roles to check (default: whichever the token serves)"
    )
    doctor.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON (- for standard output)")

    parser.add_argument("--version", action="version", version=f"bitlocker-policy {version()}")
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # the command's own usage, not the top level's: the flags it does take
        commands.choices[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command == "report" and args.out.suffix.lower() in _FILE_SUFFIXES:
        parser.error(
            f"report --out is a directory (a page per tenant and an index, as --format {args.format}), "
            f"not a {args.out.suffix} file: name a directory"
        )
    if args.command == "report" and (problem := out_problem(args.out)):
        parser.error(problem)
    if getattr(args, "tenant", None) and (args.stacks or args.shard):
        parser.error("doctor takes --tenant or stacks (--stacks, --shard), not both")
    args.stacks = [glob.strip() for given in getattr(args, "stacks", None) or ["*"] for glob in given.split(",") if glob.strip()]
    if args.command == "consent-status" and args.job and len(args.client_id or []) > 1:
        parser.error("consent-status takes --job with one --client-id; two are the read app and the write app")
    if args.command == "onboard" and args.gdap and args.declare is None:
        parser.error("onboard --gdap needs --declare true|false: the value every new customer's stack declares")
    if args.command == "matrix" and args.shards and args.shard:
        parser.error("matrix takes --shards N (the legs) or --shard I/N (one leg's stacks), not both")
    if re.fullmatch(r"\$\([\w.]+\)", getattr(args, "notify", None) or ""):
        # Azure Pipelines leaves the macro of a variable nobody defined as written: "$(NAME)"
        # (learn.microsoft.com/azure/devops/pipelines/process/variables, "Macro syntax variables").
        undefined = f"{NOTIFY_URL} is {args.notify}, a pipeline variable that is not defined"
        print(f"warning: {undefined}: no alert is sent", file=sys.stderr)
        args.notify = None
    if getattr(args, "notify_format", "json") not in FORMATS:  # argparse does not check a default
        parser.error(f"{NOTIFY_FORMAT} must be one of {', '.join(FORMATS)}, not {args.notify_format!r}")
    if [getattr(args, name, None) for name in ("json", "markdown", "junit")].count(STDOUT) > 1:
        parser.error("only one of --json, --markdown and --junit can be - (standard output)")
    return args
