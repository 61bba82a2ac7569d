"""A dynamic-provider host ends with its engine, whether or not our provider code ever ran in it."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from providers.engine_watch import engine_address, python_path
from tests.support.processes import alive, stop, wait_until_gone

HOST = ["-u", "-m", "pulumi.dynamic"]  # as the plugin shim runs it (sdk/python/dist/pulumi-resource-pulumi-python)


@pytest.mark.parametrize(
    ("argv", "address"),
    [
        (["/venv/bin/python", *HOST, "127.0.0.1:4567"], "127.0.0.1:4567"),
        (["python3", "-m", "pulumi.dynamic", "127.0.0.1:4567"], "127.0.0.1:4567"),
        (["/venv/bin/python", *HOST], None),  # no address: not a host the engine started
        (["/venv/bin/python", "-m", "fleet", "up"], None),
        (["/venv/bin/python", "-u", "-m", "pulumi.policy", "127.0.0.1:4567"], None),
        (["/venv/bin/python", "program.py", "-m", "pulumi.dynamic"], None),
        (["/venv/bin/python"], None),
    ],
)
def test_only_a_dynamic_provider_host_has_an_engine_to_watch(argv: list[str], address: str | None) -> None:
    assert engine_address(argv) == address


@pytest.mark.parametrize(
    ("current", "expected"),
    [(None, ""), ("", ""), ("/opt/lib", os.pathsep + "/opt/lib"), (f"/a{os.pathsep}/b", f"{os.pathsep}/a{os.pathsep}/b")],
)
def test_the_clis_pythonpath_puts_the_startup_directory_first_and_keeps_the_users(current: str | None, expected: str) -> None:
    path = python_path(current)
    assert path.endswith("startup" + expected)
    assert (Path(path.split(os.pathsep)[0]) / "sitecustomize.py").is_file()


def _host(address: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """`python -u -m pulumi.dynamic ADDRESS` as the CLI starts it, once it has printed its port (it serves)."""
    host = subprocess.Popen([sys.executable, *HOST, address], cwd=cwd, env=env, stdout=subprocess.PIPE, text=True)
    assert host.stdout is not None
    assert host.stdout.readline().strip().isdigit()
    return host


def test_a_host_the_engine_never_called_ends_when_the_engine_goes(tmp_path: Path) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    env = {**os.environ, "PYTHONPATH": python_path(os.environ.get("PYTHONPATH"))}
    host = _host(f"127.0.0.1:{port}", env, tmp_path)  # in an empty directory: no code of ours to import
    try:
        assert alive(host.pid)  # the engine answers: the watch keeps the host
        server.stop(None)  # the engine is gone (as when its CLI is killed)
        assert not wait_until_gone([host.pid], 60), "the host outlived its engine"
        assert host.wait() == 1
    finally:
        stop(host)


def test_a_sitecustomize_the_startup_directory_shadows_still_runs(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text("print('the other sitecustomize ran')\n")
    env = {**os.environ, "PYTHONPATH": python_path(str(tmp_path))}
    done = subprocess.run([sys.executable, "-c", "pass"], env=env, capture_output=True, text=True, check=True)
    assert (done.stdout, done.stderr) == ("the other sitecustomize ran\n", "")
