"""The leak check the end-to-end tests end with: it finds what it must, and says where without the secret."""

from __future__ import annotations

from pathlib import Path

from tests.support.leaks import LeakCheck

SECRET = "emu~s3cret-value-long-enough"


def test_a_secret_in_output_or_in_any_file_under_a_root_is_found_and_not_repeated(tmp_path: Path) -> None:
    check = LeakCheck(roots=[tmp_path])
    check.add_secret(SECRET, "a client secret")
    (tmp_path / "backend" / ".pulumi" / "history").mkdir(parents=True)
    (tmp_path / "backend" / ".pulumi" / "history" / "stack.json").write_text(f'{{"x": "{SECRET}"}}')
    check.printed("pulumi up", f"error: {SECRET}")
    findings = check.findings()
    assert findings == [
        "a client secret in the output of `pulumi up`",
        f"a client secret in {tmp_path / 'backend' / '.pulumi' / 'history' / 'stack.json'}",
    ]
    assert not any(SECRET in finding for finding in findings)


def test_asking_for_secrets_is_not_a_leak_and_a_symlinked_venv_is_not_searched(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "cache").write_text(SECRET)
    project = tmp_path / "project"
    project.mkdir()
    (project / ".venv").symlink_to(elsewhere)
    check = LeakCheck(roots=[project])
    check.add_secret(SECRET, "a client secret")
    check.printed("pulumi stack export --show-secrets", SECRET)
    assert check.findings() == []


def test_every_line_of_a_private_key_is_a_secret(tmp_path: Path) -> None:
    check = LeakCheck(roots=[tmp_path])
    pem = b"-----BEGIN PRIVATE KEY-----\n" + b"A" * 64 + b"\n" + b"B" * 64 + b"\nCC\n-----END PRIVATE KEY-----\n"
    check.add_key(pem, "a key")
    (tmp_path / "state.json").write_bytes(b"B" * 64)
    assert check.findings() == [f"a key in {tmp_path / 'state.json'}"]
