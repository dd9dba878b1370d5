"""gainsight.yml and the environment: rendering, lookup order, lazy errors, secrets."""

from __future__ import annotations

import copy
import logging
import pickle
from pathlib import Path

import pytest

from dbt_gainsight.config import Connection, GainsightSettings, Secret, load_settings
from dbt_gainsight.errors import ConfigError

KEY = "gs-key-0123456789abcdef"
URL = "https://acme.gainsightcloud.com"


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    out = {name: tmp_path / name for name in ("project", "profiles", "home")}
    for path in out.values():
        path.mkdir()
    return out


def env_for(dirs: dict[str, Path], **extra: str) -> dict[str, str]:
    return {"HOME": str(dirs["home"]), **extra}


def write(directory: Path, text: str) -> Path:
    path = directory / "gainsight.yml"
    path.write_text(text)
    return path


FILE = """
state_schema: "{{ env_var('GS_STATE_SCHEMA', 'analytics_gainsight') }}"
connections:
  default:
    url: "{{ env_var('GAINSIGHT_URL') }}/"
    access_key: "{{ env_var('GAINSIGHT_ACCESS_KEY') }}"
    calls_per_minute: "{{ env_var('GS_CPM', '200') }}"
    max_in_flight: 8
    timeout_seconds: 30
    max_retries: "{{ env_var('GS_RETRIES', '2') }}"
    people_bulk: true
  sandbox:
    url: https://acme-sandbox.gainsightcloud.com
    access_key: "{{ env_var('GS_SANDBOX_KEY') }}"
    calls_per_minute: null
    verify_tls: "{{ env_var('GS_VERIFY', 'false') }}"
"""


# --------------------------------------------------------------------------- Secret


def test_secret_hides_its_value() -> None:
    secret = Secret(KEY)
    assert repr(secret) == "***"
    assert str(secret) == "***"
    assert f"{secret}" == "***"
    assert f"{secret!r:>5}" == "  ***"
    assert "%s %r" % (secret, secret) == "*** ***"  # noqa: UP031
    assert secret.reveal() == KEY


def test_secret_equality_and_hash_by_value() -> None:
    assert Secret(KEY) == Secret(KEY)
    assert Secret(KEY) != Secret("other")
    assert Secret(KEY) != KEY
    assert hash(Secret(KEY)) == hash(Secret(KEY))
    assert Secret(Secret(KEY)).reveal() == KEY


def test_secret_cannot_be_pickled_but_copies() -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(Secret(KEY))
    assert copy.deepcopy(Secret(KEY)) == Secret(KEY)
    with pytest.raises(AttributeError):
        Secret(KEY)._value = "x"  # type: ignore[misc]


def test_connection_repr_hides_key() -> None:
    conn = Connection(name="default", url=URL, access_key=KEY)  # type: ignore[arg-type]
    assert isinstance(conn.access_key, Secret)
    assert KEY not in repr(conn)
    assert KEY not in str(conn)
    assert "access_key=***" in repr(conn)
    assert conn.access_key.reveal() == KEY
    assert (conn.calls_per_minute, conn.max_in_flight, conn.timeout_seconds) == (100, 4, 60.0)
    assert (conn.people_bulk, conn.verify_tls, conn.max_retries) == (False, True, 7)


# --------------------------------------------------------------------------- rendering


def test_env_var_rendering_and_defaults(dirs: dict[str, Path]) -> None:
    path = write(dirs["project"], FILE)
    env = env_for(dirs, GAINSIGHT_URL=URL, GAINSIGHT_ACCESS_KEY=KEY, GS_SANDBOX_KEY="sb-key")
    settings = load_settings(dirs["project"], env=env)
    assert settings.source_path == str(path)
    assert settings.state_schema == "analytics_gainsight"
    default = settings.connection(None)
    assert default == settings.connection("default")
    assert default.url == URL  # trailing slash stripped
    assert default.access_key.reveal() == KEY
    assert (default.calls_per_minute, default.max_in_flight) == (200, 8)
    assert (default.timeout_seconds, default.people_bulk, default.verify_tls) == (30.0, True, True)
    sandbox = settings.connection("sandbox")
    assert (default.max_retries, sandbox.max_retries) == (2, 7)  # rendered and coerced; default
    assert sandbox.calls_per_minute is None
    assert sandbox.verify_tls is False
    assert sandbox.access_key == Secret("sb-key")
    assert KEY not in repr(settings)


def test_env_var_overrides_default_value(dirs: dict[str, Path]) -> None:
    write(dirs["project"], FILE)
    env = env_for(
        dirs,
        GAINSIGHT_URL=URL,
        GAINSIGHT_ACCESS_KEY=KEY,
        GS_STATE_SCHEMA="gs_state",
        GS_CPM="50",
    )
    settings = load_settings(dirs["project"], env=env)
    assert settings.state_schema == "gs_state"
    assert settings.connection(None).calls_per_minute == 50


def test_missing_env_var_is_raised_when_the_connection_is_used(dirs: dict[str, Path]) -> None:
    path = write(dirs["project"], FILE)
    env = env_for(dirs, GAINSIGHT_URL=URL, GAINSIGHT_ACCESS_KEY=KEY)
    settings = load_settings(dirs["project"], env=env)  # sandbox is broken, default is fine
    assert settings.connection(None).url == URL
    with pytest.raises(ConfigError) as info:
        settings.connection("sandbox")
    assert str(info.value) == (
        f"{path}: connections.sandbox.access_key: environment variable 'GS_SANDBOX_KEY' is "
        "not set (use env_var('GS_SANDBOX_KEY', 'default') for an optional value)"
    )
    assert info.value.exit_code == 2


def test_broken_default_in_file_does_not_fall_back_to_env(dirs: dict[str, Path]) -> None:
    path = write(
        dirs["project"],
        "connections:\n  default:\n    url: https://a.gainsightcloud.com\n"
        "    access_key: \"{{ env_var('PROD_KEY') }}\"\n",
    )
    env = env_for(dirs, GAINSIGHT_URL=URL, GAINSIGHT_ACCESS_KEY=KEY)
    settings = load_settings(dirs["project"], env=env)
    with pytest.raises(ConfigError) as info:
        settings.connection(None)
    assert "'PROD_KEY' is not set" in str(info.value)
    assert str(path) in str(info.value)
    assert KEY not in str(info.value)


def test_bad_template_does_not_echo_the_value(dirs: dict[str, Path]) -> None:
    write(
        dirs["project"],
        "connections:\n  default:\n    url: https://a.gainsightcloud.com\n"
        '    access_key: "secret-{{ oops"\n',
    )
    settings = load_settings(dirs["project"], env=env_for(dirs))
    with pytest.raises(ConfigError) as info:
        settings.connection(None)
    assert "connections.default.access_key: cannot render" in str(info.value)
    assert "secret-" not in str(info.value)


def test_access_key_of_wrong_type_is_not_shown(dirs: dict[str, Path]) -> None:
    write(
        dirs["project"],
        "connections:\n  default:\n    url: https://a.gainsightcloud.com\n"
        "    access_key: 987654321\n",
    )
    settings = load_settings(dirs["project"], env=env_for(dirs))
    with pytest.raises(ConfigError) as info:
        settings.connection(None)
    assert "connections.default.access_key: expected a string, got a number" in str(info.value)
    assert "987654321" not in str(info.value)


def test_invalid_url(dirs: dict[str, Path]) -> None:
    path = write(
        dirs["project"],
        "connections:\n  default:\n    url: acme.gainsightcloud.com\n"
        "    access_key: \"{{ env_var('GAINSIGHT_ACCESS_KEY') }}\"\n",
    )
    settings = load_settings(dirs["project"], env=env_for(dirs, GAINSIGHT_ACCESS_KEY=KEY))
    with pytest.raises(ConfigError) as info:
        settings.connection(None)
    assert str(info.value) == (
        f"{path}: connections.default.url: 'acme.gainsightcloud.com' is not an http(s) URL; "
        "expected e.g. https://acme.gainsightcloud.com"
    )


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("timeout_seconds: 0", "timeout_seconds: must be more than 0, got 0"),
        ("max_in_flight: 0", "max_in_flight: must be at least 1, got 0"),
        ("max_retries: -1", "max_retries: must be at least 0, got -1"),
        ("max_retries: 50", "max_retries: must be at most 20, got 50"),
        ("people_bulk: maybe", "people_bulk: expected true or false, got the string 'maybe'"),
        ("calls_per_minute: lots", "expected an integer or null, got the string 'lots'"),
    ],
)
def test_invalid_option_values(dirs: dict[str, Path], option: str, message: str) -> None:
    write(
        dirs["project"],
        f"connections:\n  default:\n    url: {URL}\n    access_key: k\n    {option}\n",
    )
    settings = load_settings(dirs["project"], env=env_for(dirs))
    with pytest.raises(ConfigError, match="gainsight.yml: connections.default.") as info:
        settings.connection(None)
    assert message in str(info.value)


# --------------------------------------------------------------------------- file shape


def test_unknown_keys_are_errors_at_load(dirs: dict[str, Path]) -> None:
    path = write(
        dirs["project"],
        "state_schema: gs\nconections: {}\nconnections:\n  default:\n    url: x\n"
        "    acess_key: k\n",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(dirs["project"], env=env_for(dirs))
    lines = str(info.value).splitlines()
    assert lines[0] == f"{path}: invalid gainsight.yml:"
    assert lines[1:] == [
        "  - conections: unknown key 'conections'; did you mean 'connections'? "
        "(allowed: connections, exposure_owner, history_days, state_schema)",
        "  - connections.default: missing required key 'access_key'",
        "  - connections.default.acess_key: unknown key 'acess_key'; did you mean 'access_key'? "
        "(allowed: access_key, allow_insecure_http, calls_per_minute, daily_call_budget, "
        "max_in_flight, max_retries, people_bulk, timeout_seconds, url, verify_tls)",
    ]


def test_invalid_yaml_does_not_quote_the_line(dirs: dict[str, Path]) -> None:
    write(dirs["project"], f"connections:\n  default:\n    access_key: {KEY}\n   url: [\n")
    with pytest.raises(ConfigError) as info:
        load_settings(dirs["project"], env=env_for(dirs))
    assert "not valid YAML at line" in str(info.value)
    assert KEY not in str(info.value)


def test_empty_file_is_no_connections(dirs: dict[str, Path]) -> None:
    path = write(dirs["project"], "")
    settings = load_settings(
        dirs["project"], env=env_for(dirs, GAINSIGHT_URL=URL, GAINSIGHT_ACCESS_KEY=KEY)
    )
    assert settings.source_path == str(path)
    assert settings.state_schema is None
    assert settings.connection(None).url == URL


def test_top_level_not_a_mapping(dirs: dict[str, Path]) -> None:
    path = write(dirs["project"], "- a\n- b\n")
    with pytest.raises(ConfigError) as info:
        load_settings(dirs["project"], env=env_for(dirs))
    assert str(info.value) == f"{path}: expected a mapping at the top level, got a list"


def test_literal_key_in_project_file_warns(
    dirs: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    write(dirs["project"], f"connections:\n  default:\n    url: {URL}\n    access_key: {KEY}\n")
    with caplog.at_level(logging.WARNING):
        settings = load_settings(dirs["project"], env=env_for(dirs))
    assert settings.connection(None).access_key.reveal() == KEY
    assert "written literally" in caplog.text
    assert KEY not in caplog.text


# --------------------------------------------------------------------------- environment default


def test_no_file_default_from_environment(dirs: dict[str, Path]) -> None:
    settings = load_settings(
        dirs["project"], env=env_for(dirs, GAINSIGHT_URL=URL + "/", GAINSIGHT_ACCESS_KEY=KEY)
    )
    assert settings.source_path is None
    conn = settings.connection(None)
    assert (conn.name, conn.url, conn.access_key) == ("default", URL, Secret(KEY))
    assert conn.calls_per_minute == 100


def test_file_without_default_uses_environment(dirs: dict[str, Path]) -> None:
    write(
        dirs["project"],
        "connections:\n  sandbox:\n    url: https://sb.example.com\n    access_key: k\n",
    )
    settings = load_settings(
        dirs["project"], env=env_for(dirs, GAINSIGHT_URL=URL, GAINSIGHT_ACCESS_KEY=KEY)
    )
    assert settings.connection(None).url == URL
    assert settings.connection("sandbox").url == "https://sb.example.com"


def test_missing_default_is_lazy_and_lists_every_place(dirs: dict[str, Path]) -> None:
    env = env_for(dirs, GAINSIGHT_URL=URL)
    settings = load_settings(dirs["project"], dirs["profiles"], env=env)  # no error yet
    with pytest.raises(ConfigError) as info:
        settings.connection(None)
    project, profiles = dirs["project"], dirs["profiles"]
    home = dirs["home"] / ".dbt"
    assert str(info.value) == (
        "no Gainsight connection 'default': set GAINSIGHT_URL and GAINSIGHT_ACCESS_KEY, or add "
        "a 'default' connection to gainsight.yml. Looked in: "
        f"{project}/gainsight.yml (not found); {profiles}/gainsight.yml (not found); "
        f"{home}/gainsight.yml (not found); "
        "environment: GAINSIGHT_URL (set), GAINSIGHT_ACCESS_KEY (not set)"
    )
    assert URL not in str(info.value)


def test_missing_default_when_file_has_none(dirs: dict[str, Path]) -> None:
    path = write(
        dirs["profiles"], "connections:\n  sandbox:\n    url: https://x.io\n    access_key: k\n"
    )
    settings = load_settings(dirs["project"], dirs["profiles"], env=env_for(dirs))
    with pytest.raises(ConfigError) as info:
        settings.connection(None)
    assert (
        f"Looked in: {dirs['project']}/gainsight.yml (not found); "
        f"{path} (no 'default' connection; defined: sandbox); "
        "environment: GAINSIGHT_URL (not set), GAINSIGHT_ACCESS_KEY (not set)"
    ) in str(info.value)


def test_invalid_env_url_is_lazy(dirs: dict[str, Path]) -> None:
    env = env_for(dirs, GAINSIGHT_URL="ftp://x", GAINSIGHT_ACCESS_KEY=KEY)
    settings = load_settings(dirs["project"], env=env)
    with pytest.raises(ConfigError) as info:
        settings.connection(None)
    assert str(info.value) == (
        "GAINSIGHT_URL: 'ftp://x' is not an http(s) URL; expected e.g. "
        "https://acme.gainsightcloud.com"
    )


# --------------------------------------------------------------------------- unknown names


def test_unknown_connection_lists_names(dirs: dict[str, Path]) -> None:
    path = write(dirs["project"], FILE)
    env = env_for(dirs, GAINSIGHT_URL=URL, GAINSIGHT_ACCESS_KEY=KEY, GS_SANDBOX_KEY="s")
    settings = load_settings(dirs["project"], env=env)
    with pytest.raises(ConfigError) as info:
        settings.connection("sandbx")
    assert str(info.value) == (
        f"connection 'sandbx' is not defined in {path}; did you mean 'sandbox'? "
        "(defined: default, sandbox)"
    )


def test_unknown_connection_without_file(dirs: dict[str, Path]) -> None:
    env = env_for(dirs, GAINSIGHT_URL=URL, GAINSIGHT_ACCESS_KEY=KEY)
    settings = load_settings(dirs["project"], env=env)
    with pytest.raises(ConfigError) as info:
        settings.connection("prod")
    assert str(info.value) == (
        "connection 'prod' is not defined: no gainsight.yml found (looked in: "
        f"{dirs['project']}/gainsight.yml, {dirs['home']}/.dbt/gainsight.yml); without one "
        "only 'default' exists, from GAINSIGHT_URL and GAINSIGHT_ACCESS_KEY"
    )


# --------------------------------------------------------------------------- lookup order


def _settings_from(dirs: dict[str, Path], profiles: Path | None = None, **env: str) -> str:
    settings = load_settings(dirs["project"], profiles, env=env_for(dirs, **env))
    assert isinstance(settings, GainsightSettings)
    return settings.state_schema or ""


def test_lookup_order_project_then_profiles_then_home(dirs: dict[str, Path]) -> None:
    (dirs["home"] / ".dbt").mkdir()
    write(dirs["home"] / ".dbt", "state_schema: home\n")
    assert _settings_from(dirs, dirs["profiles"]) == "home"
    write(dirs["profiles"], "state_schema: profiles\n")
    assert _settings_from(dirs, dirs["profiles"]) == "profiles"
    write(dirs["project"], "state_schema: project\n")
    assert _settings_from(dirs, dirs["profiles"]) == "project"


def test_profiles_dir_from_dbt_profiles_dir_env(dirs: dict[str, Path]) -> None:
    write(dirs["profiles"], "state_schema: profiles\n")
    assert _settings_from(dirs) == ""
    assert _settings_from(dirs, DBT_PROFILES_DIR=str(dirs["profiles"])) == "profiles"


def test_same_dir_is_looked_at_once(dirs: dict[str, Path]) -> None:
    settings = load_settings(dirs["project"], dirs["project"], env=env_for(dirs))
    assert settings.searched == (
        str(dirs["project"] / "gainsight.yml"),
        str(dirs["home"] / ".dbt" / "gainsight.yml"),
    )


def test_env_var_called_wrongly(dirs: dict[str, Path]) -> None:
    path = write(dirs["project"], 'state_schema: "{{ env_var() }}"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(dirs["project"], env=env_for(dirs))
    assert str(info.value).startswith(
        f"{path}: state_schema: cannot render {{{{ ... }}}}: TypeError"
    )


def test_empty_connections_key(dirs: dict[str, Path]) -> None:
    write(dirs["project"], "connections:\n")
    settings = load_settings(
        dirs["project"], env=env_for(dirs, GAINSIGHT_URL=URL, GAINSIGHT_ACCESS_KEY=KEY)
    )
    assert list(settings.connections) == ["default"]


def test_an_empty_key_in_the_environment_is_not_called_unset(dirs: dict[str, Path]) -> None:
    env = env_for(dirs, GAINSIGHT_URL=URL, GAINSIGHT_ACCESS_KEY="  ")
    settings = load_settings(dirs["project"], dirs["profiles"], env=env)
    with pytest.raises(ConfigError, match=r"GAINSIGHT_ACCESS_KEY \(set but empty\)"):
        settings.connection(None)
    [(where, key, message)] = settings.unavailable_at["default"]
    assert (where, key) == ("environment", "GAINSIGHT_ACCESS_KEY")
    assert message.startswith("set but empty: no Gainsight connection 'default'")


def test_every_problem_of_a_connection_at_once_with_its_key_path(dirs: dict[str, Path]) -> None:
    path = write(
        dirs["project"],
        "connections:\n  default:\n    url: \"{{ env_var('NO_URL') }}\"\n"
        "    access_key: \"{{ env_var('NO_KEY') }}\"\n    max_in_flight: 0\n",
    )
    settings = load_settings(dirs["project"], env=env_for(dirs))
    keys = [(f, k) for f, k, _ in settings.unavailable_at["default"]]
    assert keys == [
        (str(path), "connections.default.url"),
        (str(path), "connections.default.access_key"),
        (str(path), "connections.default.max_in_flight"),
    ]
