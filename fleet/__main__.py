"""python -m fleet matrix [--project DIR]: the stacks to run, one per tenant, as JSON for a CI matrix.

Exit codes: 0 the matrix is printed; 2 two stacks manage one tenant, or a tenant cannot be
resolved (the message names the stacks, the tenant and the fix).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from providers.errors import BitlockerPolicyError

from .stacks import find_stacks, resolve_tenants, shared_tenants


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the command."""
    parser = argparse.ArgumentParser(prog="python -m fleet", description=__doc__)
    parser.add_argument("command", choices=["matrix"])
    parser.add_argument("--project", type=Path, default=Path.cwd(), help="the project directory (default: here)")
    args = parser.parse_args(argv)
    try:
        stacks = find_stacks(args.project)
        resolved = resolve_tenants(stacks)
    except BitlockerPolicyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    conflicts = shared_tenants(resolved)
    for tenant, names in conflicts.items():
        print(
            f"error: stacks {', '.join(names)} all manage tenant {tenant}; keep one stack per tenant "
            "(two would undo each other's setting on every run)",
            file=sys.stderr,
        )
    if conflicts:
        return 2
    print(json.dumps({"include": [{"stack": name, "tenant": tenant} for name, tenant in resolved.items()]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
