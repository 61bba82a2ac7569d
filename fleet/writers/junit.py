"""`--junit`: a fleet run as JUnit XML, one testcase per stack, which GitLab's merge-request widget
(`artifacts:reports:junit`) and Azure DevOps' Tests tab (PublishTestResults@2) show.

A stack that breaks the baseline rule is a failure of type `baseline-rule` in every command; a
tenant that differs from its stack (drift, a declared change not applied yet) and a stack that
failed are failures too; a stack `up` converged passes. Each testcase's text names the customer,
who changed the tenant's value and when (Entra's audit log), the request-id, and links to the
run and the published report (fleet/writers/links.py).
Every text in it (names, messages, details) is made one plain line, and what XML 1.0 forbids
besides (lone surrogates, U+FFFE, U+FFFF; https://www.w3.org/TR/xml/#charsets) becomes U+FFFD:
a parser refuses a document that holds any of them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from xml.etree import ElementTree as ET

from fleet.outcome import FAILED, UPDATE, Outcome, totals
from fleet.writers.display import value_text
from fleet.writers.links import NO_LINKS, Links
from providers.common.outside_text import one_line

__all__ = ["RULE", "junit_xml"]

RULE = "baseline-rule"  # the failure type of a stack that breaks the baseline rule (providers/config/baseline.py)

_FINDS_DIFFERENCES = ("drift", "preview", "report")  # read-only commands: a difference is what they report
# Not a Char of XML 1.0 (https://www.w3.org/TR/xml/#NT-Char).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def junit_xml(command: str, outcomes: Sequence[Outcome], started: datetime | None = None, links: Links = NO_LINKS) -> bytes:
    """The run as a JUnit document (testsuites > testsuite > testcase); `started` is the run's start (Azure shows it)."""
    failing = [outcome for outcome in outcomes if _failure(command, outcome)]
    seconds = f"{sum(outcome.seconds for outcome in outcomes):.3f}"
    counts = {"tests": str(len(outcomes)), "failures": str(len(failing)), "errors": "0", "time": seconds}
    root = ET.Element("testsuites", {"name": _text(f"bitlocker-policy fleet {command}"), **counts})  # no `skipped`: junit-10.xsd
    suite = ET.SubElement(
        root, "testsuite", {"name": _text(f"fleet {command}: {totals(command, outcomes)}"), **counts, "skipped": "0"}
    )
    if started:
        suite.set("timestamp", started.isoformat(timespec="seconds"))
    for outcome in outcomes:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=_text(f"bitlocker-policy.{command}"),
            name=_text(outcome.stack),
            time=f"{outcome.seconds:.3f}",
        )
        failure = _failure(command, outcome)
        if failure:
            kind, message = failure
            ET.SubElement(case, "failure", type=kind, message=_text(message)).text = _details(outcome, links)
        else:
            ET.SubElement(case, "system-out").text = _details(outcome, links)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def _failure(command: str, outcome: Outcome) -> tuple[str, str] | None:
    """(type, message) of the stack's failure, or None when it passes."""
    if outcome.violation:
        return RULE, outcome.violation
    if outcome.action == FAILED:
        return "failed", outcome.error or "failed"
    if outcome.action == UPDATE and command in _FINDS_DIFFERENCES:
        return ("drift" if outcome.reason.startswith("drift") else "pending change"), outcome.reason or "differs"
    return None


def _details(outcome: Outcome, links: Links) -> str:
    """Who, which customer, what, where: a line each."""
    lines = [f"customer {outcome.customer}"] if outcome.customer else []
    lines += [f"tenant {outcome.tenant}"]
    lines += [f"declared {value_text(outcome.declared)}"] if outcome.declared is not None else []
    lines += [f"live {value_text(outcome.live)}"] if outcome.live_read else []
    lines += [outcome.reason] if outcome.reason else []
    lines += [outcome.changed] if outcome.changed else []
    lines += [f"baseline rule: {outcome.violation}"] if outcome.violation else []
    lines += [f"PATCH request-id {outcome.request_id}"] if outcome.request_id else []
    lines += [f"error: {outcome.error}"] if outcome.error else []
    lines += [f"{label}: {url}" for label, url in links.items()]
    return "\n".join(_text(line) for line in lines)


def _text(text: str) -> str:
    """One line of characters XML 1.0 allows."""
    return _NOT_XML.sub("\ufffd", one_line(text, limit=10_000))
