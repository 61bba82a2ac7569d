"""The Pulumi program's entry point for the CLI: what the stack declares is in program.py."""

from program import declare

declare()
