"""Shared fixtures: real Postgres databases, copies of dbt projects, the CLI as a subprocess.

Postgres: ``DBT_GAINSIGHT_TEST_PG`` (a DSN) when set, else 127.0.0.1:5432 as user postgres.
Each test that asks for ``pg_database`` gets a database of its own, dropped afterwards.
When CI=true and no server answers, that is a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE_PROJECT = REPO / "sample_dbt_project"
BIN = Path(sys.executable).parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# A test run started in the background by a shell without job control (`make test &`, some CI
# runners) inherits SIGINT ignored, and so would every process it starts: the Ctrl-C tests
# would then test nothing. Ctrl-C means KeyboardInterrupt here, as in a terminal.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _pg_params() -> dict[str, str]:
    dsn = os.environ.get("DBT_GAINSIGHT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    url = urlparse(dsn)
    return {
        "PGHOST": url.hostname or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGUSER": url.username or "postgres",
        "PGPASSWORD": url.password or "",
        "PGDATABASE": (url.path or "/postgres").lstrip("/") or "postgres",
    }


def _pg_connect(params: dict[str, str], dbname: str | None = None):
    import psycopg2

    return psycopg2.connect(
        host=params["PGHOST"],
        port=int(params["PGPORT"]),
        user=params["PGUSER"],
        password=params["PGPASSWORD"],
        dbname=dbname or params["PGDATABASE"],
        connect_timeout=5,
    )


@pytest.fixture(scope="session")
def pg_server() -> dict[str, str]:
    """Connection parameters of a reachable Postgres server (skip locally, fail in CI)."""
    params = _pg_params()
    try:
        _pg_connect(params).close()
    except Exception as exc:  # noqa: BLE001
        message = f"PostgreSQL not reachable at {params['PGHOST']}:{params['PGPORT']}: {exc}"
        if IN_CI:
            pytest.fail(message + " (CI=true: a missing server is a failure)")
        pytest.skip(message)
    return params


@pytest.fixture
def pg_database(pg_server: dict[str, str]) -> Iterator[dict[str, str]]:
    """A fresh database; yields the PG* environment variables that point at it."""
    with new_pg_database(pg_server) as env:
        yield env


@contextmanager
def new_pg_database(pg_server: dict[str, str], options: str = "") -> Iterator[dict[str, str]]:
    """A fresh database, dropped after; ``options`` follow its name in ``create database``
    (a locale, say). Yields the PG* environment variables that point at it."""
    name = f"dbt_gainsight_test_{uuid.uuid4().hex[:12]}"
    admin = _pg_connect(pg_server)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'create database "{name}" {options}')
    try:
        yield {**pg_server, "PGDATABASE": name}
    finally:
        with admin.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
        admin.close()


def copy_project(source: Path, dest: Path) -> Path:
    """Copy a dbt project without its build artefacts, so tests never share a target/."""
    shutil.copytree(
        source, dest, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", ".user.yml")
    )
    return dest


@pytest.fixture
def sample_project(tmp_path: Path) -> Path:
    """A private copy of sample_dbt_project."""
    return copy_project(SAMPLE_PROJECT, tmp_path / "sample_dbt_project")


def run(
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = False,
    timeout: float = 600,
) -> subprocess.CompletedProcess:
    """Run a command of the venv (``dbt``, ``dbt-gainsight``) as a real subprocess."""
    command = [str(BIN / args[0]), *args[1:]]
    full_env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **(env or {})}
    proc = subprocess.run(
        command, env=full_env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {proc.returncode}\n"
            f"STDOUT:\n{proc.stdout}\nSTDERR:\n{proc.stderr}"
        )
    return proc


def wait_until(condition, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Poll ``condition`` while ``proc`` runs; fail with its log if it ends or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"the sync ended early:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"timed out:\n{log.read_text()}"
        time.sleep(0.02)


@contextmanager
def reaped(proc: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """Kill ``proc`` on the way out if it still runs: a failed test leaves no process behind."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def signal_and_wait(
    proc: subprocess.Popen, sig: int = signal.SIGINT, timeout: float = 60
) -> tuple[int, float]:
    """Send ``sig`` and wait for the exit: (exit code, seconds from the signal to the exit)."""
    sent = time.monotonic()
    proc.send_signal(sig)
    code = proc.wait(timeout=timeout)
    return code, time.monotonic() - sent
