"""`fleet summary` on documents it did not write: one line naming the file and what is wrong, exit 2;
on its own documents, the exit code their rows make, each stack counted once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fleet.__main__ import main
from fleet.outcome import Outcome
from fleet.writers.report import json_document
from tests.support.reliability_doc import Section, declare, record

GOOD = Outcome("alpha", "t1", declared=False, live=False, live_read=True).to_json()


def _document(**row: Any) -> dict[str, Any]:
    """A drift document whose one row is GOOD with `row`'s keys changed."""
    return {"command": "drift", "exitCode": 0, "stacks": [{**GOOD, **row}]}


# (the file's text, what its one line says)
HOSTILE: dict[str, tuple[str, str]] = {
    "a row that is a number": (json.dumps({"command": "drift", "stacks": [5]}), "stacks[0] is a number, not an object"),
    "a stack that is a number": (json.dumps(_document(stack=5)), "stacks[0].stack is a number, not a string"),
    "a null tenant": (json.dumps(_document(tenant=None)), "stacks[0].tenant is null, not a string"),
    'seconds: "abc"': (json.dumps(_document(seconds="abc")), "stacks[0].seconds is a string, not a number"),
    "seconds: NaN": (json.dumps(_document()).replace('"seconds": 0.0', '"seconds": NaN'), "NaN is no JSON number"),
    "seconds: 1e999": (json.dumps(_document()).replace('"seconds": 0.0', '"seconds": 1e999'), "stacks[0].seconds is inf"),
    "an action that is a list": (json.dumps(_document(action=["update"])), "stacks[0].action is a list, not a string"),
    "an action of no command": (json.dumps(_document(action="reboot")), "stacks[0].action is 'reboot', not one of none"),
    "reason: null": (json.dumps(_document(reason=None)), "stacks[0].reason is null, not a string"),
    "liveRead: 1": (json.dumps(_document(liveRead=1)), "stacks[0].liveRead is a number, not a boolean"),
    "an exception whose daysLeft is a string": (
        json.dumps(_document(exception={"reason": "r", "approvedBy": "a", "expires": "2099-01-01", "daysLeft": "9"})),
        "stacks[0].exception.daysLeft is a string, not a number",
    ),
    "a change of history that is a string": (json.dumps(_document(history=["x"])), "stacks[0].history[0] is a string"),
    "a key the product never writes": (json.dumps(_document(colour="red")), "stacks[0].colour is not a key of a fleet row"),
    "a lone surrogate in a tenant": (json.dumps(_document(tenant="\udc80")), "stacks[0].tenant holds a lone surrogate"),
    "rows nested 100,000 deep": ('{"command": "drift", "stacks": ' + "[" * 100_000, "nested deeper than"),
    "a command with an escape sequence and Markdown": (
        json.dumps({**_document(), "command": "drift\x1b[2J](https://example.test)"}),
        "command is 'drift\\x1b[2J]",  # its repr: no escape sequence, and no link on the reliability page
    ),
    "a report document": (json.dumps({**_document(), "command": "report"}), "command is 'report', not one of"),
    "stacks that is an object": (json.dumps({"command": "drift", "stacks": {}}), "stacks is an object, not a list"),
    "a document that is a list": ("[]", "holds a list, not command, exitCode and stacks"),
    "an empty file": ("", "not JSON (Expecting value at line 1)"),
    "bytes that are not UTF-8": ("\udcff", "not UTF-8"),  # written with surrogateescape: the byte 0xff
}


def _write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8", "surrogateescape") if text == "\udcff" else text.encode("utf-8", "surrogatepass"))
    return path


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_document_is_one_line_and_exit_2(tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]) -> None:
    text, says = HOSTILE[case]
    good = _write(tmp_path / "good.json", json.dumps(json_document("drift", 0, [Outcome("beta", "t2")])))
    hostile = _write(tmp_path / "shard-2.json", text)
    assert main(["summary", str(good), str(hostile), "--markdown", "-"]) == 2
    printed = capsys.readouterr()
    assert printed.out == ""  # no summary of half the run
    assert printed.err == f"error: {hostile} is not the --json document of a fleet run: {printed.err.split(': ', 2)[2]}"
    assert printed.err.count("\n") == 1
    assert says in printed.err
    assert "\x1b" not in printed.err
    record("summary documents", case, "outcome", f"exit 2: «{says}»")


def test_the_same_stack_twice_is_refused_naming_both_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shard = _write(tmp_path / "a.json", json.dumps(_document()))
    other = _write(tmp_path / "b.json", json.dumps(_document(action="update", reason="drift")))
    cases = {
        "the same document twice": ([shard, shard], f"stack alpha is twice in {shard}"),
        "two documents holding one stack": ([shard, other], f"stack alpha is in {shard} and in {other}"),
    }
    for case, (paths, says) in cases.items():
        assert main(["summary", *map(str, paths)]) == 2
        err = capsys.readouterr().err
        assert err == f"error: {says}: pass each shard's --json document once\n"
        record("summary documents", case, "outcome", "exit 2: the stack is refused, naming both files")


# (command, the rows' actions and violations, the exit code; the documents all say exitCode 0)
EXIT_CODES = [
    ("drift", [("none", None), ("update", None)], 3),
    ("preview", [("record", None), ("update", None)], 3),
    ("drift", [("none", "the baseline blocks it")], 5),  # a broken agreement has its own code
    ("preview", [("update", None), ("failed", None), ("update", "the baseline blocks it")], 5),  # and outranks the rest
    ("up", [("failed", "the baseline blocks it")], 5),  # up refused it
    ("refresh", [("update", None), ("failed", None)], 4),
    ("up", [("update", None)], 0),  # up changed it: done
    ("up", [("update", None), ("failed", None)], 4),
    ("drift", [("none", None), ("record", None)], 0),
]


@pytest.mark.parametrize(("command", "rows", "code"), EXIT_CODES)
def test_the_exit_code_follows_the_rows(tmp_path: Path, command: str, rows: list[tuple[str, str | None]], code: int) -> None:
    paths = []
    for index, (action, violation) in enumerate(rows):
        outcome = Outcome(f"s{index}", f"t{index}", action=action, violation=violation, error="x" if action == "failed" else None)
        paths.append(_write(tmp_path / f"{index}.json", json.dumps(json_document(command, 0, [outcome]))))
    assert main(["summary", *map(str, paths)]) == code


def test_every_row_the_product_writes_reads_back() -> None:
    full = Outcome(
        "alpha",
        "t1",
        customer="Contoso",
        declared=True,
        live=None,
        action="update",
        reason="drift",
        request_id="r-1",
        seconds=1.25,
        error=None,
        live_read=True,
        changed="changed by x",
        last_patch_at="2026-11-29T08:00:00Z",
        last_patch_request_id="r-0",
        violation="v",
        warning="w",
        exception={"reason": "r", "approvedBy": "a", "expires": "2099-01-01", "daysLeft": 9},
        history=[{"at": None, "from": None, "to": True, "by": "x", "ours": False, "requestId": None}],
    )
    assert Outcome.from_json(json.loads(json.dumps(full.to_json()))) == full


SUMMARY_DOCUMENTS = declare(
    "summary documents",
    Section(
        "`fleet summary` on documents it did not write",
        "Each row's file was given to `fleet summary` with a good shard's document: one line naming the file and "
        "what is wrong, exit 2, no traceback, nothing on standard output, no escape sequence.",
        cases=(*HOSTILE, "the same document twice", "two documents holding one stack"),
        columns=("outcome",),
    ),
)
