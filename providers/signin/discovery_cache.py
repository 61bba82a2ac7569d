"""OIDC discovery documents kept across provider processes, in the user's cache directory.

Every `pulumi preview` starts a new provider process, which needs its tenant's discovery
document before it can ask for a token: without a cache, a request on the critical path. The
document is public metadata (issuer, endpoints; no token, no secret) that MSAL itself
offers to cache for a day (msal `http_cache`: "Content inside http_cache are cheap to
obtain. ... will contain no tokens nor secrets"; throttled_http_client.py keeps 2xx
discovery GETs 24 h). This cache keeps exactly those documents, and nothing else, in
`${XDG_CACHE_HOME:-~/.cache}/bitlocker-policy/oidc-discovery.json`. A missing, corrupt
or unwritable file is ignored: the document is fetched again.

MSAL sends the credential to the cached document's `token_endpoint`, so the file is trusted
only when the user running Pulumi owns it and nobody else can write it, and a document
only when its issuer and endpoints are on the host it was fetched from.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from providers.common.files import read_regular_file

__all__ = ["MAX_AGE_SECONDS", "DiscoveryCache", "default_path", "is_openid_configuration"]

MAX_AGE_SECONDS = 24 * 3600


def default_path() -> Path:
    """Where the cache lives: the XDG cache directory of the user running Pulumi."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bitlocker-policy" / "oidc-discovery.json"


class DiscoveryCache:
    """URL → discovery document text, in memory and (when `path` is set) on disk.

    A provider process writes the file at each new document. A process that resolves many
    tenants (`fleet`) passes `deferred=True` and calls `flush` once at the end instead.
    """

    def __init__(
        self,
        path: Path | None = None,
        *,
        max_age: float = MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.time,
        deferred: bool = False,
    ):
        self._path = path
        self._max_age = max_age
        self._clock = clock
        self._deferred = deferred
        self._unwritten = False  # documents kept since the file was last written
        self._documents: dict[str, dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def get(self, url: str) -> str | None:
        """The document fetched from `url` less than a day ago, or None."""
        with self._lock:
            entry = self._loaded().get(url)
        return str(entry["body"]) if entry else None

    def put(self, url: str, body: str) -> None:
        """Keep a discovery document (anything else is refused) and write the file, best effort."""
        if not _is_discovery_document(url, body):
            return
        with self._lock:
            self._loaded()[url] = {"fetched": self._clock(), "body": body}
            self._unwritten = True
            if not self._deferred:
                self._write_merged()

    def flush(self) -> None:
        """Write the documents kept since the last write (with those other processes wrote meanwhile), best effort."""
        with self._lock:
            if self._unwritten:
                self._write_merged()

    def _write_merged(self) -> None:
        self._documents = {**self._read_file(), **self._loaded()}
        self._write_file(self._documents)
        self._unwritten = False

    def _loaded(self) -> dict[str, dict[str, Any]]:
        if self._documents is None:
            self._documents = self._read_file()
        return self._documents

    def _read_file(self) -> dict[str, dict[str, Any]]:
        if self._path is None:
            return {}
        try:  # only the user's own file: someone else could have planted a token endpoint there
            stored = json.loads(read_regular_file(self._path, owned_privately=True))
        except (OSError, ValueError):
            return {}
        documents = stored.get("documents") if isinstance(stored, dict) else None
        if not isinstance(documents, dict):
            return {}
        now = self._clock()
        return {
            url: entry
            for url, entry in documents.items()
            if isinstance(entry, dict)
            and isinstance(entry.get("fetched"), int | float)
            and now - entry["fetched"] < self._max_age
            and isinstance(entry.get("body"), str)
            and _is_discovery_document(url, entry["body"])
        }

    def _write_file(self, documents: dict[str, dict[str, Any]]) -> None:
        if self._path is None:
            return
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=self._path.parent, delete=False, suffix=".tmp") as out:
                json.dump({"version": 1, "documents": documents}, out)
            os.replace(out.name, self._path)
        except OSError:
            return


def is_openid_configuration(body: str) -> bool:
    """An OpenID configuration MSAL can use (issuer and both endpoints as text), with no field that could hold a token."""
    return _openid_configuration(body) is not None


def _is_discovery_document(url: str, body: str) -> bool:
    """An OpenID configuration served by `url`'s host about itself."""
    document = _openid_configuration(body)
    host = urlsplit(url).netloc
    return document is not None and all(urlsplit(document[name]).netloc == host for name in _ENDPOINT_FIELDS)


_ENDPOINT_FIELDS = ("issuer", "token_endpoint", "authorization_endpoint")  # MSAL reads all three


def _openid_configuration(body: str) -> dict[str, Any] | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if not isinstance(document, dict) or {"access_token", "refresh_token", "id_token", "client_secret"} & set(document):
        return None
    return document if all(isinstance(document.get(name), str) for name in _ENDPOINT_FIELDS) else None
