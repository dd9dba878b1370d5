"""The CLI as users start it: a subprocess that prints its URL, answers, and stops on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import requests


def _start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dbt_gainsight.emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    line = proc.stdout.readline()
    m = re.match(r"Gainsight emulator on (http://\S+) \(access key: (\S+)\)", line)
    assert m, line + proc.stderr.read()
    return proc, m.group(1)


def test_cli_starts_answers_and_stops_on_sigterm(tmp_path):
    objects = tmp_path / "objects.json"
    objects.write_text(
        '{"objects": [{"objectName": "Usage__gc", "fields": [{"fieldName": "U__gc"}]}]}'
    )
    proc, url = _start(
        "--access-key",
        "cli-key",
        "--rate-limit-per-minute",
        "2",
        "--objects",
        str(objects),
        "--state-file",
        str(tmp_path / "s.sqlite"),
    )
    try:
        headers = {"accesskey": "cli-key", "Accept": "application/json"}
        resp = requests.get(
            url + "/v1/meta/services/objects/usage__gc/describe", headers=headers, timeout=5
        )
        assert resp.json()["data"][0]["objectName"] == "Usage__gc"
        assert (
            requests.get(
                url + "/v1/meta/services/objects/list", headers=headers, timeout=5
            ).status_code
            == 200
        )
        resp = requests.get(url + "/v1/meta/services/objects/list", headers=headers, timeout=5)
        assert resp.status_code == 429 and resp.json()["errorCode"] == "GS_APIG_2404"
        bad = requests.get(
            url + "/v1/meta/services/objects/list", headers={"accesskey": "x"}, timeout=5
        )
        assert bad.status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "stopped" in out


def test_cli_key_from_environment_and_sigint():
    proc, url = _start(env={"GAINSIGHT_ACCESS_KEY": "env-key"})
    try:
        resp = requests.get(
            url + "/v1/meta/services/objects/list", headers={"accesskey": "env-key"}, timeout=5
        )
        assert resp.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert proc.returncode == 0


def test_cli_bad_objects_file_is_a_usage_error(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("objects:\n  - objectName: NotCustom\n")
    proc = subprocess.run(
        [sys.executable, "-m", "dbt_gainsight.emulator", "--port", "0", "--objects", str(bad)],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.returncode == 2
    assert "__gc" in proc.stderr
