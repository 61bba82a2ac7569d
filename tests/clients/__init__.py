"""Scripts that run in the virtualenvs of Microsoft's own clients (scripts/ensure-tools.sh), not in the tests' own."""
