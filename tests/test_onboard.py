"""`fleet onboard --dry-run`: customers from a CSV or the partner's GDAP list, planned against the project's stacks."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml

from emulator import Emulator, Tenant
from fleet.__main__ import main
from fleet.onboard import read_csv, slug, stack_name
from providers.common.errors import ConfigurationError
from tests.support.emulated import emulator_config

pytestmark = pytest.mark.usefixtures("trust_emulator")

GDAP_ROLE = "DelegatedAdminRelationship.Read.All"
A, B, C = (str(uuid.UUID(int=n)) for n in (0xA1, 0xB2, 0xC3))


def project(tmp_path: Path, stacks: dict[str, str] | None = None) -> Path:
    """A project with these stacks (name: tenant GUID)."""
    root = tmp_path / "project"
    (root / "stacks").mkdir(parents=True)
    (root / "Pulumi.yaml").write_text("name: bitlocker-policy\nstackConfigDir: stacks\n")
    for name, tenant in (stacks or {}).items():
        (root / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": {"azuread:tenantId": tenant}}))
    return root


def customers_csv(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "customers.csv"
    path.write_text("tenant,customer,declared,reason,approvedBy,expires\n" + "".join(f"{row}\n" for row in rows))
    return path


def lines(out: str) -> list[list[str]]:
    """The plan's lines (stack, tenant, action, note), without the files a dry run prints."""
    return [line.split("\t") for line in out.splitlines() if "\t" in line]


def test_a_dry_run_prints_each_stack_file_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path)
    csv = customers_csv(tmp_path, f"{A},Contoso Ltd.,false,,,", f"{B},Fabrikam (dev),true,developers,sec@fabrikam.com,2030-12-31")

    assert main(["onboard", "--project", str(root), "--csv", str(csv), "--dry-run"]) == 0

    out, err = capsys.readouterr()
    assert [row[:3] for row in lines(out)] == [["contoso-ltd", A, "new"], ["fabrikam-dev", B, "new"]]
    printed = out.split(f"# {root / 'stacks' / 'Pulumi.fabrikam-dev.yaml'}\n")[1]
    assert yaml.safe_load(printed) == {
        "config": {
            "azuread:tenantId": B,
            "bitlocker-policy:customerName": "Fabrikam (dev)",
            "bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice": "true",
            "bitlocker-policy:exception": {"reason": "developers", "approvedBy": "sec@fabrikam.com", "expires": "2030-12-31"},
        }
    }
    assert "onboard: 2 would write" in err
    assert list((root / "stacks").iterdir()) == []


def test_a_tenant_another_stack_manages_is_refused_by_that_stacks_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project(tmp_path, {"contoso-prod": A})
    csv = customers_csv(tmp_path, f"{A},Contoso,false,,,", f"{B},Fabrikam,false,,,")

    assert main(["onboard", "--project", str(root), "--csv", str(csv), "--dry-run"]) == 4

    assert lines(capsys.readouterr().out) == [
        ["contoso", A, "refused", f"tenant {A} is already managed by stack contoso-prod: not imported as contoso"],
        ["fabrikam", B, "new", ""],
    ]


def test_an_existing_stack_with_other_values_is_left_as_is_and_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path)
    file = root / "stacks" / "Pulumi.contoso.yaml"
    file.write_text(
        yaml.safe_dump(
            {
                "config": {
                    "azuread:tenantId": A,
                    "bitlocker-policy:customerName": "Contoso",
                    "bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice": "true",
                }
            }
        )
    )
    before = file.read_text()
    csv = customers_csv(tmp_path, f"{A},Contoso,false,,,")

    assert main(["onboard", "--project", str(root), "--csv", str(csv), "--dry-run"]) == 3

    [[_, _, action, note]] = lines(capsys.readouterr().out)
    assert (action, note) == (
        "differs",
        "Pulumi.contoso.yaml has other values for bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice: "
        "left as is (`pulumi config set` changes them)",
    )
    assert file.read_text() == before


def test_a_stack_that_names_its_tenant_by_domain_is_no_difference(
    tmp_path: Path, emulator: Emulator, tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project(tmp_path)
    config = {**emulator_config(emulator, tenantId=tenant.domain), "bitlocker-policy:customerName": "Contoso"}
    config["bitlocker-policy:allowedToReadBitlockerKeysForOwnedDevice"] = "false"
    (root / "stacks" / "Pulumi.contoso.yaml").write_text(yaml.safe_dump({"config": config}))
    csv = customers_csv(tmp_path, f"{tenant.id},Contoso,false,,,")
    endpoints = [f"--config={key}={value}" for key, value in emulator_config(emulator).items()]

    assert main(["onboard", "--project", str(root), "--csv", str(csv), *endpoints, "--dry-run"]) == 0

    assert lines(capsys.readouterr().out) == [["contoso", tenant.id, "unchanged", ""]]


def test_stack_names_are_slugs_and_colliding_customers_get_their_tenants_prefix() -> None:
    assert slug("Müller & Söhne GmbH") == "muller-sohne-gmbh"
    assert slug("東京") == "customer"
    assert stack_name("contoso", A, {}, shared=False) == "contoso"
    assert stack_name("contoso", A, {}, shared=True) == f"contoso-{A[:8]}"
    assert stack_name("contoso", A, {"contoso": B}, shared=False) == f"contoso-{A[:8]}"  # another tenant's stack
    assert stack_name("contoso", A, {"contoso": A}, shared=True) == "contoso"  # its own, from an earlier run
    # Named apart from another Contoso by an earlier import that the input no longer holds: it keeps that name.
    assert stack_name("contoso", A, {f"contoso-{A[:8]}": A}, shared=False) == f"contoso-{A[:8]}"


def test_two_customers_with_one_name_get_two_stacks_whatever_their_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project(tmp_path)
    for order in ((A, C), (C, A)):
        csv = customers_csv(tmp_path, *(f"{tenant},Contoso,false,,," for tenant in order))
        main(["onboard", "--project", str(root), "--csv", str(csv), "--dry-run"])
        names = {tenant: name for name, tenant, *_ in lines(capsys.readouterr().out)}
        assert names == {A: f"contoso-{A[:8]}", C: f"contoso-{C[:8]}"}


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("not a tenant,Contoso,false,,,", "line 2: tenant 'not a tenant' is no tenant GUID or verified domain"),
        (f"{A},,false,,,", "line 2: customer is empty: name the customer (it names the stack)"),
        (f"{A},Contoso,maybe,,,", "line 2: declared must be true or false (or empty for --declare), got 'maybe'"),
        (f"{A},Contoso,true,why,,", "line 2: an exception needs reason, approvedBy and expires; approvedBy, expires empty"),
        (f"{A},Contoso,true,why,me,someday", "line 2: expires 'someday' is no date YYYY-MM-DD"),
    ],
)
def test_a_csv_row_that_cannot_be_imported_is_named_with_the_fix(tmp_path: Path, row: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match="line 2") as raised:
        read_csv(customers_csv(tmp_path, row))
    assert problem in str(raised.value)


def gdap_partner(emulator: Emulator, roles: tuple[str, ...], count: int) -> tuple[Tenant, dict[str, str], list[Tenant]]:
    """A partner tenant whose app has `roles`, with `count` GDAP customers on pages of 2; its environment."""
    partner = emulator.add_tenant()
    app = partner.add_app(roles=roles)
    partner.gdap.page_size = 2
    customers = [emulator.add_tenant() for _ in range(count)]
    for index, customer in enumerate(customers):
        partner.gdap.add(customer.id, f"Customer {index}")
    return partner, {"ARM_CLIENT_ID": app.client_id, "ARM_CLIENT_SECRET": app.add_secret()}, customers


def test_the_gdap_customers_are_read_page_by_page(
    tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    partner, env, customers = gdap_partner(emulator, (GDAP_ROLE,), 5)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    endpoints = [f"--config={key}={value}" for key, value in emulator_config(emulator).items()]

    code = main(
        ["onboard", "--project", str(project(tmp_path)), "--gdap", partner.id, "--declare", "false", *endpoints, "--dry-run"]
    )

    assert code == 0
    assert [row[:3] for row in lines(capsys.readouterr().out)] == [
        [f"customer-{index}", customer.id, "new"] for index, customer in enumerate(customers)
    ]
    pages = [r for r in emulator.graph_requests("GET", partner) if "delegatedadmincustomers" in r.path.lower()]
    assert len(pages) == 3  # 2 + 2 + 1


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (b"[" * 100_000, "Graph answered the list of GDAP customers with JSON nested too deeply to read"),
        (b'{"value": 7}', "Graph answered the list of GDAP customers with no `value` list"),
        (b"<html>a proxy's page</html>", "Graph answered GET /v1.0/tenantRelationships/delegatedAdminCustomers with no JSON"),
    ],
    ids=["nested past JSON's limits", "no value list", "no JSON"],
)
def test_a_gdap_answer_that_cannot_be_read_is_one_line(
    tmp_path: Path,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    answer: bytes,
    said: str,
) -> None:
    partner, env, _ = gdap_partner(emulator, (GDAP_ROLE,), 1)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    emulator.faults.mangle("gdap", lambda _: answer)
    endpoints = [f"--config={key}={value}" for key, value in emulator_config(emulator).items()]

    code = main(["onboard", "--project", str(project(tmp_path)), "--gdap", partner.id, "--declare", "false", *endpoints])

    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {said}"), err
    assert len(err.splitlines()) == 1, err  # no traceback


def test_gdap_without_the_permission_is_one_line_naming_it(
    tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    partner, env, _ = gdap_partner(emulator, ("Policy.Read.All",), 1)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    endpoints = [f"--config={key}={value}" for key, value in emulator_config(emulator).items()]

    code = main(["onboard", "--project", str(project(tmp_path)), "--gdap", partner.id, "--declare", "false", *endpoints])

    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "error: Graph denied GET /v1.0/tenantRelationships/delegatedAdminCustomers: grant the app the Microsoft Graph "
        "application permission DelegatedAdminRelationship.Read.All with admin consent [HTTP 403 Authorization_RequestDenied"
    ), err


def test_gdap_needs_a_declared_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["onboard", "--project", str(tmp_path), "--gdap", A])
    assert exited.value.code == 2
    assert "onboard --gdap needs --declare true|false" in capsys.readouterr().err


@pytest.mark.parametrize("key", ["azuread:clientSecret", "azuread:clientCertificatePassword", "azuread:oidcToken"])
def test_a_credential_is_never_written_into_a_stack_file(key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["onboard", "--csv", str(tmp_path / "customers.csv"), "--config", f"{key}=S3cretValue", "--dry-run"])
    said = capsys.readouterr()
    assert refused.value.code == 2
    assert f"{key} is a secret: stack files are committed" in said.err
    assert "S3cretValue" not in said.out + said.err
