"""scripts/demo.sh (`make demo`) finds its own emulator: a free port, a health check, clear errors.

dbt and the sync are stubbed (they record the URL they were given); the emulator is real
unless a test replaces it with a broken or impostor one.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REAL_CLI = str(Path(sys.executable).with_name("dbt-gainsight"))


class _Anything(BaseHTTPRequestHandler):
    """Whatever else may listen on a port: answers every request 200 with a JSON body."""

    def do_GET(self) -> None:  # noqa: N802
        body = json.dumps({"result": True, "data": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def impostor():
    """An HTTP server on 8756 (the demo's old fixed port) when free, else on any port."""
    try:
        server = ThreadingHTTPServer(("127.0.0.1", 8756), _Anything)
    except OSError:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Anything)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _venv(tmp_path: Path, emulator: str) -> Path:
    """A fake VENV whose bin/ runs ``emulator`` for ``dbt-gainsight emulator``, stubs the rest."""
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    calls = tmp_path / "calls.txt"
    stub = f'echo "$(basename "$0") $1 $GAINSIGHT_URL" >> {calls}\n'
    (bin_dir / "dbt").write_text("#!/bin/sh\n" + stub)
    (bin_dir / "dbt-gainsight").write_text(
        f'#!/bin/sh\nif [ "$1" = emulator ]; then\n{emulator}\nfi\n{stub}'
    )
    (bin_dir / "python").symlink_to(sys.executable)
    for name in ("dbt", "dbt-gainsight"):
        (bin_dir / name).chmod(0o755)
    return tmp_path / "venv"


def _demo(venv: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh")],
        env={**os.environ, "VENV": str(venv)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _calls(tmp_path: Path) -> list[str]:
    path = tmp_path / "calls.txt"
    return path.read_text().splitlines() if path.exists() else []


def test_demo_uses_a_free_port_and_its_own_emulator(tmp_path, impostor):
    proc = _demo(_venv(tmp_path, f'exec {REAL_CLI} "$@"'))
    assert proc.returncode == 0, proc.stderr
    calls = _calls(tmp_path)
    assert [c.split()[:2] for c in calls] == [
        ["dbt", "build"],
        ["dbt-gainsight", "check"],
        ["dbt-gainsight", "sync"],
        ["dbt-gainsight", "sync"],
        ["dbt-gainsight", "audit"],
    ]
    urls = {c.split()[2] for c in calls}
    assert len(urls) == 1
    [url] = urls
    assert url.startswith("http://127.0.0.1:") and not url.endswith(f":{impostor}")
    assert f"Gainsight emulator on {url}" in proc.stdout
    with socket.socket() as s:  # stopped at exit: nothing is left listening
        assert s.connect_ex(("127.0.0.1", int(url.rsplit(":", 1)[1]))) != 0


def test_demo_fails_clearly_when_the_emulator_does_not_start(tmp_path):
    proc = _demo(_venv(tmp_path, 'echo "Error: cannot listen on 127.0.0.1:0" >&2; exit 1'))
    assert proc.returncode == 1
    assert "the Gainsight emulator exited before it was ready" in proc.stderr
    assert "emulator: Error: cannot listen" in proc.stderr
    assert _calls(tmp_path) == []


def test_demo_never_talks_to_another_server(tmp_path, impostor):
    fake = (
        f'echo "Gainsight emulator on http://127.0.0.1:{impostor} (access key: x)"; exec sleep 30'
    )
    proc = _demo(_venv(tmp_path, fake))
    assert proc.returncode == 1
    assert f"http://127.0.0.1:{impostor} is not the emulator this script started" in proc.stderr
    assert _calls(tmp_path) == []
