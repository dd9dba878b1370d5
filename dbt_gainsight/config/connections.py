"""Gainsight connections: ``gainsight.yml`` (beside the project or profiles.yml) or the environment.

Values are rendered like dbt's profiles (``{{ env_var('NAME', 'default') }}``) so credentials
stay in the environment. Each connection is rendered on its own and a broken one only fails
when a model asks for it, as dbt only renders the target in use: an unset sandbox key must not
block the production sync.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

import jinja2
import yaml
from jsonschema import Draft202012Validator

from dbt_gainsight.config.env_vars import jinja_for, render
from dbt_gainsight.config.messages import describe_value, did_you_mean, settings_problem
from dbt_gainsight.errors import ConfigError
from dbt_gainsight.gainsight.limits import check_base_url

log = logging.getLogger(__name__)

SETTINGS_FILE = "gainsight.yml"
DEFAULT_CONNECTION = "default"
ENV_URL = "GAINSIGHT_URL"
ENV_ACCESS_KEY = "GAINSIGHT_ACCESS_KEY"
_REDACTED = "***"


class Secret:
    """A string that never shows itself: repr/str/format give ``***``; ``reveal()`` gives it.

    It refuses to be pickled so it cannot leak through a serialised log record or report.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """Return the secret; call it only where the value goes on the wire."""
        return self._value

    def __repr__(self) -> str:
        return _REDACTED

    def __str__(self) -> str:
        return _REDACTED

    def __format__(self, spec: str) -> str:
        return format(_REDACTED, spec)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Secret is immutable")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")


@dataclass(frozen=True)
class Connection:
    """One Gainsight tenant and how hard to drive it."""

    name: str
    url: str
    access_key: Secret
    calls_per_minute: int | None = 100
    max_in_flight: int = 4
    timeout_seconds: float = 60.0
    max_retries: int = 7  # retries of a call that failed in a way worth retrying
    people_bulk: bool = False
    verify_tls: bool = True
    allow_insecure_http: bool = False  # plain http to a non-loopback host (key in clear text)
    daily_call_budget: int | None = None  # calls a day this tool may spend (run history)

    def __post_init__(self) -> None:
        if not isinstance(self.access_key, Secret):
            object.__setattr__(self, "access_key", Secret(self.access_key))


@dataclass(frozen=True)
class GainsightSettings:
    """Every connection that could be built, plus why the others could not.

    ``unavailable`` maps a connection name to the reason it cannot be used (an unset env var,
    no ``default`` anywhere); the reason is raised only when a model asks for that connection.
    ``unavailable_at`` says the same as (file or "environment", key path, message) triples, so
    each problem is reported where it is fixed, every one at once.
    """

    connections: Mapping[str, Connection]
    state_schema: str | None
    source_path: str | None
    unavailable: Mapping[str, str] = field(default_factory=dict)
    unavailable_at: Mapping[str, tuple[tuple[str, str, str], ...]] = field(default_factory=dict)
    searched: tuple[str, ...] = ()
    exposure_owner: Mapping[str, str] | None = None  # owner of `dbt-gainsight exposures`
    history_days: int = 90  # days of gainsight_runs kept (sync/history.py)

    def connection(self, name: str | None) -> Connection:
        """Return the named connection (None -> ``default``) or raise ConfigError saying why not."""
        name = DEFAULT_CONNECTION if name is None else name
        if name in self.connections:
            return self.connections[name]
        if name in self.unavailable:
            raise ConfigError(self.unavailable[name])
        known = sorted({*self.connections, *self.unavailable})
        hint = did_you_mean(name, known)
        if self.source_path is None:
            raise ConfigError(
                f"connection {name!r} is not defined: no gainsight.yml found (looked in: "
                f"{', '.join(self.searched)}); without one only {DEFAULT_CONNECTION!r} exists, "
                f"from {ENV_URL} and {ENV_ACCESS_KEY}"
            )
        raise ConfigError(
            f"connection {name!r} is not defined in {self.source_path}{hint} "
            f"(defined: {', '.join(known) or 'none'})"
        )


# --------------------------------------------------------------------------- schema

_CONNECTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["url", "access_key"],
    "properties": {
        "url": {"type": "string", "minLength": 1},
        "access_key": {"type": "string"},
        # 0 or null: no client-side limit (a local emulator with its limits off).
        "calls_per_minute": {"type": ["integer", "null"], "minimum": 0},
        "max_in_flight": {"type": "integer", "minimum": 1},
        "timeout_seconds": {"type": "number", "exclusiveMinimum": 0},
        "max_retries": {"type": "integer", "minimum": 0, "maximum": 20},
        "people_bulk": {"type": "boolean"},
        "verify_tls": {"type": "boolean"},
        "allow_insecure_http": {"type": "boolean"},
        "daily_call_budget": {"type": ["integer", "null"], "minimum": 1},
    },
}
SETTINGS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "gainsight.yml",
    # Keys only: value types are checked after rendering, per connection.
    "$defs": {
        "connection_shape": {
            **_CONNECTION_SCHEMA,
            "properties": dict.fromkeys(_CONNECTION_SCHEMA["properties"], {}),
        }
    },
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "state_schema": {"type": "string", "minLength": 1},
        "exposure_owner": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"name": {"type": "string"}, "email": {"type": "string"}},
        },
        "history_days": {"type": "integer", "minimum": 1},
        "connections": {
            "type": ["object", "null"],
            "propertyNames": {"minLength": 1},
            "additionalProperties": {"$ref": "#/$defs/connection_shape"},
        },
    },
}
_CONNECTION_VALIDATOR = Draft202012Validator(_CONNECTION_SCHEMA)
_SETTINGS_VALIDATOR = Draft202012Validator(SETTINGS_SCHEMA)
#: Options that are not strings: a rendered "100" or "false" is read as YAML, like dbt's as_number.
_COERCED = (
    "calls_per_minute",
    "max_in_flight",
    "timeout_seconds",
    "max_retries",
    "people_bulk",
    "verify_tls",
    "allow_insecure_http",
    "daily_call_budget",
)


def _schema_errors(
    validator: Draft202012Validator, instance: Any, prefix: tuple[str | int, ...]
) -> list[str]:
    """Every schema problem as ``key.path: message``, sorted by key path."""
    found = [settings_problem(e, prefix) for e in validator.iter_errors(instance)]
    found.sort(key=lambda pm: (pm[0].split("."), pm[1]))
    return [f"{path}: {message}" for path, message in found]


# --------------------------------------------------------------------------- building


def _coerce(options: dict[str, Any]) -> dict[str, Any]:
    out = dict(options)
    for key in _COERCED:
        value = out.get(key)
        if isinstance(value, str):
            try:
                parsed = yaml.safe_load(value)
            except yaml.YAMLError:
                continue
            if isinstance(parsed, bool | int | float) or parsed is None:
                out[key] = parsed
    return out


def _check_url(url: str, where: str, allow_insecure_http: bool = False) -> str:
    return check_base_url(url, where=where, allow_insecure_http=allow_insecure_http)


class _Unbuildable(ConfigError):
    """Every problem of one connection, each as (file or "environment", key path, message)."""

    def __init__(self, where: list[tuple[str, str, str]]):
        self.where = tuple(where)
        super().__init__("\n".join(f"{file}: {key}: {message}" for file, key, message in where))


def _build_connection(name: str, raw: Any, jenv: jinja2.Environment, source: str) -> Connection:
    """Render, validate and build one connection of gainsight.yml; _Unbuildable lists all."""
    where = f"{source}: connections.{name}"
    found: list[tuple[str, str]] = []  # (key path, message), all of them
    rendered: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            rendered[key] = render(value, jenv, f"{where}.{key}")
        except ConfigError as exc:
            detail = str(exc).removeprefix(f"{where}.{key}: ")
            found.append((f"connections.{name}.{key}", detail))
            rendered[key] = "x"  # a stand-in, so the schema check reports the other keys only
    failed = {key for key, _ in found}
    options = _coerce(rendered)
    for line in _schema_errors(_CONNECTION_VALIDATOR, options, ("connections", name)):
        key, _, message = line.partition(": ")
        if key not in failed:
            found.append((key, message))
    url = options.get("url")
    if isinstance(url, str) and f"connections.{name}.url" not in {k for k, _ in found}:
        try:
            url = _check_url(url, f"{where}.url", options.get("allow_insecure_http", False))
        except ConfigError as exc:
            found.append((f"connections.{name}.url", str(exc).removeprefix(f"{where}.url: ")))
    access_key = options.get("access_key")
    if isinstance(access_key, str) and not access_key.strip() and "access_key" in raw:
        found.append((f"connections.{name}.access_key", "is empty"))
    elif isinstance(access_key, str) and not access_key.strip().isprintable():
        found.append(  # an HTTP header cannot carry it, and its error would print the key
            (
                f"connections.{name}.access_key",
                "holds a line break or another control character (not shown: it is a "
                "secret); copy the key again",
            )
        )
    if found:
        raise _Unbuildable([(source, key, message) for key, message in found])
    return Connection(
        name=name,
        url=url,
        access_key=Secret(access_key.strip()),
        calls_per_minute=options.get("calls_per_minute", 100) or None,
        max_in_flight=options.get("max_in_flight", 4),
        timeout_seconds=float(options.get("timeout_seconds", 60.0)),
        max_retries=options.get("max_retries", 7),
        people_bulk=options.get("people_bulk", False),
        verify_tls=options.get("verify_tls", True),
        allow_insecure_http=options.get("allow_insecure_http", False),
        daily_call_budget=options.get("daily_call_budget"),
    )


# --------------------------------------------------------------------------- loading


def _candidates(
    project_dir: str | os.PathLike[str],
    profiles_dir: str | os.PathLike[str] | None,
    env: Mapping[str, str],
) -> list[Path]:
    """Where gainsight.yml may live, in order: project dir, profiles dir, ~/.dbt."""
    profiles = profiles_dir or env.get("DBT_PROFILES_DIR")
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    dirs = [Path(project_dir), *([Path(profiles)] if profiles else []), home / ".dbt"]
    out: list[Path] = []
    seen: set[Path] = set()
    for d in dirs:
        path = d / SETTINGS_FILE
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            out.append(path)
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        # Not str(exc): it quotes the offending line, which may hold a key.
        mark = exc.problem_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{at}: {exc.problem}") from None
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read: {type(exc).__name__}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        got = describe_value(data)
        raise ConfigError(f"{path}: expected a mapping at the top level, got {got}")
    return data


def _env_default(env: Mapping[str, str], looked: list[str]) -> tuple[Connection | None, str | None]:
    """The ``default`` connection from GAINSIGHT_URL/GAINSIGHT_ACCESS_KEY, or why there is none."""
    url = (env.get(ENV_URL) or "").strip()
    key = (env.get(ENV_ACCESS_KEY) or "").strip()
    if url and key:
        try:
            return Connection(DEFAULT_CONNECTION, _check_url(url, ENV_URL), Secret(key)), None
        except ConfigError as exc:
            return None, str(exc)
    status = ", ".join(f"{var} ({_env_state(env, var)})" for var in (ENV_URL, ENV_ACCESS_KEY))
    return None, (
        f"no Gainsight connection {DEFAULT_CONNECTION!r}: set {ENV_URL} and {ENV_ACCESS_KEY}, "
        f"or add a {DEFAULT_CONNECTION!r} connection to gainsight.yml. "
        f"Looked in: {'; '.join(looked)}; environment: {status}"
    )


def _env_problems(env: Mapping[str, str], reason: str) -> tuple[tuple[str, str, str], ...]:
    """The default connection's problem at the variable(s) to set, the full reason once."""
    bad = [var for var in (ENV_URL, ENV_ACCESS_KEY) if _env_state(env, var) != "set"]
    if not bad:  # both set: the URL itself is wrong
        return (("environment", ENV_URL, reason.removeprefix(f"{ENV_URL}: ")),)
    return tuple(
        ("environment", var, f"{_env_state(env, var)}: {reason}") for var in bad[:1]
    ) + tuple(("environment", var, _env_state(env, var)) for var in bad[1:])


def _env_state(env: Mapping[str, str], var: str) -> str:
    """``set``, ``set but empty`` or ``not set``: an empty key is a different mistake."""
    if var not in env:
        return "not set"
    return "set" if env[var].strip() else "set but empty"


def load_settings(
    project_dir: str | os.PathLike[str],
    profiles_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] = os.environ,
) -> GainsightSettings:
    """Read the first gainsight.yml found (project dir, profiles dir, ~/.dbt) and the environment.

    Raises ConfigError for a malformed file; a connection that cannot be built (unset env var,
    bad URL) is recorded in ``unavailable`` and raised when it is asked for.
    """
    looked: list[str] = []
    searched: list[str] = []
    source: Path | None = None
    data: dict[str, Any] = {}
    for path in _candidates(project_dir, profiles_dir, env):
        searched.append(str(path))
        if path.is_file():
            source = path
            data = _read_yaml(path)
            break
        looked.append(f"{path} (not found)")

    connections: dict[str, Connection] = {}
    unavailable: dict[str, str] = {}
    unavailable_at: dict[str, tuple[tuple[str, str, str], ...]] = {}
    state_schema: str | None = None
    if source is not None:
        problems = _schema_errors(_SETTINGS_VALIDATOR, data, ())
        if problems:
            raise ConfigError(f"{source}: invalid gainsight.yml:\n  - " + "\n  - ".join(problems))
        jenv = jinja_for(env)
        if "state_schema" in data:
            state_schema = render(data["state_schema"], jenv, f"{source}: state_schema").strip()
        for name, raw in (data.get("connections") or {}).items():
            try:
                connections[name] = _build_connection(name, raw, jenv, str(source))
            except _Unbuildable as exc:
                unavailable[name] = str(exc)
                unavailable_at[name] = exc.where
            else:
                _warn_literal_key(source, Path(project_dir), name, raw)
        names = ", ".join(sorted(data.get("connections") or {})) or "none"
        looked.append(f"{source} (no {DEFAULT_CONNECTION!r} connection; defined: {names})")

    if DEFAULT_CONNECTION not in connections and DEFAULT_CONNECTION not in unavailable:
        conn, reason = _env_default(env, looked)
        if conn is not None:
            connections[DEFAULT_CONNECTION] = conn
        else:
            unavailable[DEFAULT_CONNECTION] = reason or ""
            unavailable_at[DEFAULT_CONNECTION] = _env_problems(env, reason or "")

    return GainsightSettings(
        connections=MappingProxyType(connections),
        state_schema=state_schema or None,
        history_days=data.get("history_days", 90),
        source_path=str(source) if source is not None else None,
        unavailable=MappingProxyType(unavailable),
        unavailable_at=MappingProxyType(unavailable_at),
        searched=tuple(searched),
        exposure_owner=data.get("exposure_owner") or None,
    )


def _warn_literal_key(source: Path, project_dir: Path, name: str, raw: Mapping[str, Any]) -> None:
    """A key written literally in the project's gainsight.yml ends up in git: say so."""
    key = raw.get("access_key")
    in_project = source.parent.resolve() == project_dir.resolve()
    if in_project and isinstance(key, str) and "{{" not in key:
        log.warning(
            "%s: connections.%s.access_key is written literally in the project; use "
            "\"{{ env_var('GAINSIGHT_ACCESS_KEY') }}\" so the key stays out of version control",
            source,
            name,
        )
