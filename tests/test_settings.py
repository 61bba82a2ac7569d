"""Where settings come from, and which cloud they select."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.stacks import find_stacks
from providers.common.errors import ConfigurationError
from providers.config.settings import AUTHORITY_HOST, CLIENT_ID, DESIRED_VALUE, ENVIRONMENT, USE_OIDC, Sources, resolve_endpoints
from providers.config.stack_config import project_values


def test_config_wins_over_environment() -> None:
    sources = Sources({"azuread:clientId": "from-config"}, {"ARM_CLIENT_ID": "from-env"})
    assert sources.get(CLIENT_ID) == "from-config"


def test_environment_variables_in_documented_order() -> None:
    assert Sources({}, {"AZURE_CLIENT_ID": "b", "ARM_CLIENT_ID": "a"}).get(CLIENT_ID) == "a"
    assert Sources({}, {"AZURE_CLIENT_ID": "b"}).get(CLIENT_ID) == "b"
    assert Sources({}, {}).get(CLIENT_ID) is None


@pytest.mark.parametrize(
    ("stack_file", "project_default", "decrypted"),
    [
        (f"  {DESIRED_VALUE.key}: true\n", None, None),  # plain
        (f"  {DESIRED_VALUE.key}:\n    secure: v1:c2FsdA==:Y2lwaGVy\n", None, "true"),  # pulumi config set --secret
        ("", "true", None),  # Pulumi.yaml's default
        (f"  {DESIRED_VALUE.key}: true\n", "false", None),  # the stack's own value over Pulumi.yaml's
    ],
    ids=["plain", "secret", "defaulted", "stack-over-project"],
)
def test_the_fleet_reads_a_stack_as_its_program_gets_it(
    tmp_path: Path, stack_file: str, project_default: str | None, decrypted: str | None
) -> None:
    default = f"    default: {project_default}\n" if project_default else ""
    (tmp_path / "Pulumi.yaml").write_text(
        "name: bitlocker-policy\nruntime: python\nconfig:\n  allowedToReadBitlockerKeysForOwnedDevice:\n"
        f"    type: boolean\n{default}"
    )
    (tmp_path / "Pulumi.prod.yaml").write_text(f"config:\n  azuread:tenantId: contoso.onmicrosoft.com\n{stack_file}")
    asked: list[str] = []

    def decrypt(name: str) -> dict[str, str]:  # stands in for `pulumi config --show-secrets`
        asked.append(name)
        return {DESIRED_VALUE.key: str(decrypted)}

    (stack,) = find_stacks(tmp_path)
    settings = stack.settings(decrypt)
    assert (settings.declared(), settings.declared()) == (True, True)
    assert asked == (["prod"] if decrypted else [])  # the CLI is asked once, and only for a secret


def test_pulumi_yaml_gives_values_defaults_and_the_short_form_under_their_full_keys(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text(
        "name: bitlocker-policy\nruntime: python\nconfig:\n"
        "  azuread:environment:\n    value: china\n"  # another namespace: a value
        "  retainOnDelete:\n    type: boolean\n    default: true\n"  # the project's: a default
        "  bitlocker-policy:customerName: Contoso\n"  # the short form, namespaced
        "  deadlineSeconds: 60\n"  # the short form
        "  allowedToReadBitlockerKeysForOwnedDevice:\n    type: boolean\n"  # declared, no value
    )
    assert project_values(tmp_path) == {
        "azuread:environment": "china",
        "bitlocker-policy:retainOnDelete": "true",
        "bitlocker-policy:customerName": "Contoso",
        "bitlocker-policy:deadlineSeconds": 60,
    }


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
