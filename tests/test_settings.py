"""Where settings come from, and which cloud they select."""

from __future__ import annotations

import pytest

from providers.errors import ConfigurationError
from providers.settings import AUTHORITY_HOST, CLIENT_ID, ENVIRONMENT, USE_OIDC, Sources, resolve_endpoints


def test_config_wins_over_environment() -> None:
    sources = Sources({"azuread:clientId": "from-config"}, {"ARM_CLIENT_ID": "from-env"})
    assert sources.get(CLIENT_ID) == "from-config"


def test_environment_variables_in_documented_order() -> None:
    assert Sources({}, {"AZURE_CLIENT_ID": "b", "ARM_CLIENT_ID": "a"}).get(CLIENT_ID) == "a"
    assert Sources({}, {"AZURE_CLIENT_ID": "b"}).get(CLIENT_ID) == "b"
    assert Sources({}, {}).get(CLIENT_ID) is None


def test_a_flag_that_is_not_a_boolean_names_its_key() -> None:
    with pytest.raises(ConfigurationError, match=r"azuread:useOidc \(or ARM_USE_OIDC\) must be true or false"):
        Sources({"azuread:useOidc": "sometimes"}, {}).flag(USE_OIDC)


@pytest.mark.parametrize(
    ("name", "authority", "graph"),
    [
        (None, "https://login.microsoftonline.com", "https://graph.microsoft.com"),
        ("global", "https://login.microsoftonline.com", "https://graph.microsoft.com"),
        ("usgovernmentl4", "https://login.microsoftonline.us", "https://graph.microsoft.us"),
        ("usgovernment", "https://login.microsoftonline.us", "https://graph.microsoft.us"),
        ("dod", "https://login.microsoftonline.us", "https://dod-graph.microsoft.us"),
        ("China", "https://login.partner.microsoftonline.cn", "https://microsoftgraph.chinacloudapi.cn"),
    ],
)
def test_each_cloud_has_its_hosts_and_scope(name: str | None, authority: str, graph: str) -> None:
    config = {ENVIRONMENT.key: name} if name else {}
    endpoints = resolve_endpoints(Sources(config, {}))
    assert (endpoints.authority_host, endpoints.graph_endpoint) == (authority, graph)
    assert endpoints.scope == f"{graph}/.default"
    assert endpoints.instance_discovery


def test_unknown_cloud_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"azuread:environment.*public, usgovernmentl4, usgovernmentl5, china"):
        resolve_endpoints(Sources({}, {"ARM_ENVIRONMENT": "mars"}))


def test_overrides_replace_hosts_and_turn_instance_discovery_off() -> None:
    sources = Sources(
        {"bitlocker-policy:graphEndpoint": "https://graph.example.test/"}, {AUTHORITY_HOST.env[0]: "https://login.example.test"}
    )
    endpoints = resolve_endpoints(sources)
    assert endpoints.graph_endpoint == "https://graph.example.test"
    assert endpoints.authority_host == "https://login.example.test"
    assert endpoints.scope == "https://graph.example.test/.default"
    assert not endpoints.instance_discovery


@pytest.mark.parametrize("value", ["http://127.0.0.1:8443", "https://host/v1.0", "graph.microsoft.com"])
def test_override_must_be_a_bare_https_url(value: str) -> None:
    with pytest.raises(ConfigurationError, match="bitlocker-policy:graphEndpoint must be an https:// URL"):
        resolve_endpoints(Sources({"bitlocker-policy:graphEndpoint": value}, {}))
