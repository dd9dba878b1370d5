"""Tenant URL rules (#14): https unless loopback or opted out; no user info, query or fragment."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dbt_gainsight.config import load_settings
from dbt_gainsight.errors import ConfigError
from dbt_gainsight.gainsight.client import GainsightClient
from dbt_gainsight.gainsight.limits import check_base_url

KEY = "gs-key-0123456789abcdef"


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("https://acme.gainsightcloud.com/", "https://acme.gainsightcloud.com"),
        ("https://acme.gainsightcloud.com/v1/", "https://acme.gainsightcloud.com"),
        ("  https://gs.example.com/api/v1  ", "https://gs.example.com/api"),
        ("http://127.0.0.1:8756", "http://127.0.0.1:8756"),
        ("http://127.0.0.9:80/", "http://127.0.0.9:80"),
        ("http://localhost:8756", "http://localhost:8756"),
        ("http://[::1]:8756", "http://[::1]:8756"),
    ],
)
def test_accepted_urls(url, normalised):
    assert check_base_url(url) == normalised


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("acme.gainsightcloud.com", "is not an http(s) URL"),
        ("ftp://acme.gainsightcloud.com", "is not an http(s) URL"),
        ("http://acme.gainsightcloud.com", "plain http, so the access key would travel in clear"),
        ("http://10.0.0.5:8756", "allow_insecure_http: true"),
        ("https://acme.gainsightcloud.com/?tenant=1", "has a query or fragment"),
        ("https://acme.gainsightcloud.com/#top", "has a query or fragment"),
        (
            "https://acme.gainsightcloud.com/?accesskey=hunter2",
            "'https://acme.gainsightcloud.com/?***'",
        ),
        ("https://acme.gainsightcloud.com/#tok=hunter2", "'https://acme.gainsightcloud.com/#***'"),
        ("https://acme.gainsightcloud.com/?a=hunter2#b=hunter2", "has a query or fragment"),
        ("hunter2-an-access-key-in-the-wrong-place", "the value is not an http(s) URL (not shown"),
        ("https://acme.gainsightcloud.com?", "has a query or fragment"),
        ("https://svc:hunter2@acme.gainsightcloud.com", "holds user info"),
        ("https://hunter2@acme.gainsightcloud.com", "holds user info"),
    ],
)
def test_refused_urls_never_show_a_password(url, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        check_base_url(url, where="GAINSIGHT_URL")
    assert "hunter2" not in str(info.value)
    assert str(info.value).startswith("GAINSIGHT_URL: ")


def test_insecure_http_only_when_asked():
    url = "http://gainsight-proxy.internal:8080"
    assert check_base_url(url, allow_insecure_http=True) == url
    with pytest.raises(ConfigError, match="holds user info"):
        check_base_url("http://u:hunter2@x.internal", allow_insecure_http=True)


def test_the_client_applies_the_same_rules():
    with pytest.raises(ConfigError, match="plain http"):
        GainsightClient("http://acme.gainsightcloud.com", KEY)
    with pytest.raises(ConfigError, match="holds user info") as info:
        GainsightClient("https://svc:hunter2@acme.gainsightcloud.com", KEY)
    assert "hunter2" not in str(info.value)
    client = GainsightClient("http://gs.internal", KEY, allow_insecure_http=True)
    assert client.base_url == "http://gs.internal"


def test_gainsight_yml_opt_out_and_env_url(tmp_path: Path):
    (tmp_path / "gainsight.yml").write_text(
        "connections:\n"
        "  default:\n    url: http://gs.internal:8080\n    access_key: k\n"
        "  open:\n    url: http://gs.internal:8080\n    access_key: k\n"
        "    allow_insecure_http: true\n"
        "  leaky:\n    url: https://svc:hunter2@acme.gainsightcloud.com\n    access_key: k\n"
    )
    settings = load_settings(tmp_path, env={"HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match=r"connections.default.url: .*plain http"):
        settings.connection(None)
    conn = settings.connection("open")
    assert conn.allow_insecure_http and conn.url == "http://gs.internal:8080"
    with pytest.raises(ConfigError, match="holds user info") as info:
        settings.connection("leaky")
    assert "hunter2" not in str(info.value)
    env = {
        "HOME": str(tmp_path / "none"),
        "GAINSIGHT_URL": "https://svc:hunter2@acme.gainsightcloud.com",
        "GAINSIGHT_ACCESS_KEY": KEY,
    }
    (tmp_path / "p").mkdir()
    with pytest.raises(ConfigError, match="GAINSIGHT_URL: .*holds user info") as info:
        load_settings(tmp_path / "p", env=env).connection(None)
    assert "hunter2" not in str(info.value)
