"""`fleet summary`'s input: the `--json` documents of one command's shards (fleet/writers/report.py json_document),
read back and checked key by key, since a pipeline may hand it any file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from fleet.outcome import Outcome, json_type

__all__ = ["SUMMARIZED", "read_documents"]

SUMMARIZED = ("drift", "preview", "up", "refresh")  # the commands whose shards `fleet summary` merges
_LINKS = ("run", "report")  # json_document's links, which the summary takes from its own run instead
_DOCUMENT_KEYS = {"command", "exitCode", "stacks", *_LINKS}
_DOCUMENT_BYTES = 64 * 2**20  # at most: a row takes about 1 KB (a 10,000-stack fleet: 10 MB)


def read_documents(paths: Sequence[Path]) -> tuple[str, list[Outcome]]:
    """The command and the rows of `--json` documents of one command's shards, each stack once;
    ValueError, one line naming the file and what is wrong, when a file is no such document."""
    commands: set[str] = set()
    found: dict[str, Path] = {}
    outcomes = []
    for path in paths:
        command, rows = _read_document(path)
        commands.add(command)
        for outcome in rows:
            if outcome.stack in found:
                where = "twice in " if found[outcome.stack] == path else f"in {found[outcome.stack]} and in "
                raise ValueError(f"stack {outcome.stack} is {where}{path}: pass each shard's --json document once")
            found[outcome.stack] = path
        outcomes += rows
    if len(commands) > 1:
        raise ValueError(f"the documents come from different commands ({', '.join(sorted(commands))}): summarize one at a time")
    (command,) = commands  # argparse gives at least one file
    return command, outcomes


def _read_document(path: Path) -> tuple[str, list[Outcome]]:
    """One shard's command and rows (json_document's), checked key by key."""
    try:
        with path.open("rb") as file:
            content = file.read(_DOCUMENT_BYTES + 1)
    except OSError as error:
        raise ValueError(f"cannot read the document {path}: {error.strerror}") from None
    try:
        if len(content) > _DOCUMENT_BYTES:
            raise ValueError(f"larger than {_DOCUMENT_BYTES // 2**20} MB")
        try:
            document = json.loads(content.decode(), parse_constant=_no_constant)
        except UnicodeDecodeError:
            raise ValueError("not UTF-8") from None
        except RecursionError:
            raise ValueError("nested deeper than Python's JSON reader goes") from None
        except json.JSONDecodeError as error:
            raise ValueError(f"not JSON ({error.msg} at line {error.lineno})") from None
        if not isinstance(document, dict) or not {"command", "stacks"} <= set(document) <= _DOCUMENT_KEYS:
            keys = ", ".join(sorted(map(str, document)))[:80] if isinstance(document, dict) else json_type(document)
            raise ValueError(f"holds {keys or 'nothing'}, not command, exitCode and stacks")
        command, rows = document["command"], document["stacks"]
        if command not in SUMMARIZED:
            raise ValueError(f"command is {str(command)[:40]!r}, not one of {', '.join(SUMMARIZED)}")
        if not isinstance(document.get("exitCode", 0), int) or isinstance(document.get("exitCode"), bool):
            raise ValueError(f"exitCode is {json_type(document['exitCode'])}, not a number")
        wrong_link = next((key for key in _LINKS if not isinstance(document.get(key, ""), str)), None)
        if wrong_link:
            raise ValueError(f"{wrong_link} is {json_type(document[wrong_link])}, not a string")
        if not isinstance(rows, list):
            raise ValueError(f"stacks is {json_type(rows)}, not a list")
        outcomes = []
        for index, row in enumerate(rows):
            try:
                outcomes.append(Outcome.from_json(row))
            except ValueError as error:
                raise ValueError(f"stacks[{index}]{error}") from None
    except ValueError as error:
        raise ValueError(f"{path} is not the --json document of a fleet run: {error}") from None
    return str(command), outcomes


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is no JSON number")
