"""The CLI as users start it: a subprocess that prints its URL, answers, and stops on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

# The installed console script, as users run it (``dbt-gainsight emulator``).
DBT_GAINSIGHT = str(Path(sys.executable).with_name("dbt-gainsight"))


def _start(
    *args: str, env: dict[str, str] | None = None, argv: list[str] | None = None
) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [*(argv or [sys.executable, "-m", "dbt_gainsight.emulator"]), "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    line = proc.stdout.readline()
    proc.first_line = line  # type: ignore[attr-defined]
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


def test_cli_key_from_environment_is_used_but_never_printed():
    secret = "real-tenant-key-0123456789"
    proc, url = _start(argv=[DBT_GAINSIGHT, "emulator"], env={"GAINSIGHT_ACCESS_KEY": secret})
    try:
        resp = requests.get(
            url + "/v1/meta/services/objects/list", headers={"accesskey": secret}, timeout=5
        )
        assert resp.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert secret not in out + err + proc.first_line
    assert "(access key: $GAINSIGHT_ACCESS_KEY)" in proc.first_line


@pytest.mark.parametrize(
    "args, env, shown",
    [
        (["--access-key", "cli-key"], {"GAINSIGHT_ACCESS_KEY": "env-key"}, "cli-key"),
        ([], {"GAINSIGHT_ACCESS_KEY": ""}, "emulator-key"),
    ],
)
def test_cli_prints_a_key_given_on_the_command_line_or_made_up(args, env, shown):
    proc, url = _start(*args, argv=[DBT_GAINSIGHT, "emulator"], env=env)
    try:
        resp = requests.get(
            url + "/v1/meta/services/objects/list", headers={"accesskey": shown}, timeout=5
        )
        assert resp.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    assert f"(access key: {shown})" in proc.first_line


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
