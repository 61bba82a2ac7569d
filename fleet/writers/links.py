"""Where a run can be seen: the CI run that made it (each platform's own variables) and the published report.

The run's link comes from the variables each platform sets in every job:
- GitHub Actions: `GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID`
  (docs.github.com/actions/reference/workflows-and-actions/variables, "Default environment variables");
- Azure Pipelines: `SYSTEM_COLLECTIONURI` + `SYSTEM_TEAMPROJECT` + `/_build/results?buildId=BUILD_BUILDID`
  (learn.microsoft.com/azure/devops/pipelines/build/variables, "System variables", "Build variables");
- GitLab CI/CD: `CI_JOB_URL` (the job's log, where the summary is), else `CI_PIPELINE_URL`
  (docs.gitlab.com/ci/variables/predefined_variables).
The report's link is the service provider's: `BITLOCKER_POLICY_REPORT_URL`, where `fleet report`'s
pages are published. A value that is not an http(s) URL with a host is no link.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["NO_LINKS", "REPORT_URL", "Links"]

REPORT_URL = "BITLOCKER_POLICY_REPORT_URL"
# What a link keeps as it is; anything else (a space, quotes, <, >, |, parentheses) is percent-encoded,
# so that no writer's syntax (Markdown's (), Slack's <|>) can be closed from inside a link.
_SAFE = ":/?#[]@!$&'*+,;=%~-._"


@dataclass(frozen=True)
class Links:
    """The run's and the report's URLs, when known."""

    run: str | None = None
    report: str | None = None

    @classmethod
    def from_environment(cls, env: Mapping[str, str] = os.environ) -> Links:
        """The links the environment gives (none outside CI, and no report unless REPORT_URL is set)."""
        return cls(run=_url(_run_url(env)), report=_url(env.get(REPORT_URL, "")))

    def items(self) -> list[tuple[str, str]]:
        """(label, URL) of each known link, the run first."""
        found = (("the run", self.run), ("the report", self.report))
        return [(label, url) for label, url in found if url]


def _run_url(env: Mapping[str, str]) -> str:
    """This CI run's page, from the platform's own variables ("" outside CI)."""
    if all(env.get(name) for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")):
        return f"{env['GITHUB_SERVER_URL']}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    if all(env.get(name) for name in ("SYSTEM_COLLECTIONURI", "SYSTEM_TEAMPROJECT", "BUILD_BUILDID")):
        project = urllib.parse.quote(env["SYSTEM_TEAMPROJECT"], safe="")
        build = urllib.parse.quote(env["BUILD_BUILDID"], safe="")
        return f"{env['SYSTEM_COLLECTIONURI'].rstrip('/')}/{project}/_build/results?buildId={build}"
    return env.get("CI_JOB_URL") or env.get("CI_PIPELINE_URL") or ""


def _url(text: str) -> str | None:
    """`text` as a link every writer can carry (percent-encoded), or None when it is no http(s) URL with a host."""
    text = text.strip()
    if not text.isprintable():
        return None
    try:
        parsed = urllib.parse.urlsplit(text)
    except ValueError:  # an unbalanced [ in the host
        return None
    if parsed.scheme not in ("https", "http") or not parsed.hostname:
        return None
    return urllib.parse.quote(text, safe=_SAFE)


NO_LINKS = Links()
"""A run outside CI with no report published."""
