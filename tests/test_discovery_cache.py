"""OIDC discovery documents kept across provider processes: public metadata only, never in the way."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from emulator import Emulator, Tenant
from providers.signin.discovery_cache import DiscoveryCache, default_path
from tests.support.emulated import Configure, Registered

URL = "https://login.example.test/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"
DOCUMENT = json.dumps(
    {
        "issuer": "https://login.example.test/1/v2.0",
        "token_endpoint": "https://login.example.test/1/oauth2/v2.0/token",
        "authorization_endpoint": "https://login.example.test/1/oauth2/v2.0/authorize",
    }
)


def test_a_document_outlives_the_process_for_a_day(tmp_path: Path) -> None:
    now = [1_000_000.0]
    DiscoveryCache(tmp_path / "c.json", clock=lambda: now[0]).put(URL, DOCUMENT)
    assert DiscoveryCache(tmp_path / "c.json", clock=lambda: now[0]).get(URL) == DOCUMENT
    now[0] += 24 * 3600
    assert DiscoveryCache(tmp_path / "c.json", clock=lambda: now[0]).get(URL) is None


@pytest.mark.parametrize(
    "body",
    [
        DOCUMENT.replace('"issuer"', '"access_token": "x", "issuer"'),  # something that could hold a token
        DOCUMENT.replace("https://login.example.test/1/oauth2/v2.0/token", "https://evil.example.test/token"),
        DOCUMENT.replace('"authorization_endpoint"', '"other"'),  # MSAL cannot use it
        "<html>",
    ],
)
def test_only_a_hosts_own_discovery_documents_are_kept(tmp_path: Path, body: str) -> None:
    DiscoveryCache(tmp_path / "c.json").put(URL, body)
    assert not (tmp_path / "c.json").exists()


def test_a_file_others_can_write_is_not_trusted(tmp_path: Path) -> None:
    DiscoveryCache(tmp_path / "c.json").put(URL, DOCUMENT)
    assert (tmp_path / "c.json").stat().st_mode & 0o077 == 0  # written for the owner alone
    (tmp_path / "c.json").chmod(0o666)
    assert DiscoveryCache(tmp_path / "c.json").get(URL) is None


def test_a_corrupt_or_unwritable_cache_is_ignored(tmp_path: Path) -> None:
    corrupt = tmp_path / "c.json"
    corrupt.write_text("{not json")
    assert DiscoveryCache(corrupt).get(URL) is None
    DiscoveryCache(corrupt).put(URL, DOCUMENT)  # replaced by a good one
    assert DiscoveryCache(corrupt).get(URL) == DOCUMENT
    blocked = tmp_path / "a-file" / "c.json"
    (tmp_path / "a-file").write_text("")
    cache = DiscoveryCache(blocked)
    cache.put(URL, DOCUMENT)  # cannot write: still serves this process
    assert cache.get(URL) == DOCUMENT


def test_a_second_provider_process_asks_entra_for_no_discovery(
    configure: Configure, configured: dict[str, str], emulator: Emulator, tenant: Tenant, registered: Registered
) -> None:
    for _process in range(2):
        configure(configured).check({}, {"tenantId": tenant.domain, "allowedToReadBitlockerKeysForOwnedDevice": False})
    assert len(emulator.directory.recorded("discovery", tenant_id=tenant.id)) == 1
    assert len(emulator.token_requests(tenant)) == 2  # tokens are never kept across processes
    stored = default_path().read_text()
    assert str(os.environ["XDG_CACHE_HOME"]) in str(default_path())
    assert registered.secret not in stored
    assert not any(token in stored for token in emulator.directory.tokens)
    assert set(json.loads(stored)["documents"]) == {
        f"{emulator.url}/{tenant.domain}/v2.0/.well-known/openid-configuration",
        f"{emulator.url}/{tenant.id}/v2.0/.well-known/openid-configuration",
    }


def test_a_deferred_cache_writes_once_at_flush_and_only_what_is_new(tmp_path: Path) -> None:
    cache = DiscoveryCache(tmp_path / "c.json", deferred=True)
    cache.flush()  # nothing kept: nothing written
    assert not (tmp_path / "c.json").exists()
    cache.put(URL, DOCUMENT)
    assert not (tmp_path / "c.json").exists()  # kept in memory until the flush
    cache.flush()
    assert DiscoveryCache(tmp_path / "c.json").get(URL) == DOCUMENT
    (tmp_path / "c.json").touch()
    touched = (tmp_path / "c.json").stat().st_mtime_ns
    cache.flush()  # nothing new since: the file is left alone
    assert (tmp_path / "c.json").stat().st_mtime_ns == touched
