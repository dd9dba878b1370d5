"""``{{ env_var('NAME', 'default') }}`` in gainsight.yml, rendered the way dbt renders profiles.

A sandboxed Jinja with dbt's ``env_var`` and casting filters and nothing else; an error names
the file and key and never quotes the template (its line may hold a secret).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2
import jinja2.sandbox
import yaml

from dbt_gainsight.errors import ConfigError, redact


class _MissingEnvVar(Exception):
    """An ``env_var()`` without a default named a variable that is not set."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)


def jinja_for(env: Mapping[str, str]) -> jinja2.Environment:
    """A sandboxed Jinja with dbt's ``env_var`` and casting filters, nothing else."""

    def env_var(name: str, default: Any = None) -> str:
        if name in env:
            return env[name]
        if default is not None:
            return str(default)
        raise _MissingEnvVar(name)

    def native(value: Any) -> Any:
        return yaml.safe_load(value) if isinstance(value, str) else value

    jenv = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined)
    jenv.globals["env_var"] = env_var
    jenv.filters.update(as_number=native, as_bool=native, as_native=native, as_text=str)
    return jenv


def render(value: Any, jenv: jinja2.Environment, where: str) -> Any:
    """Render every string in ``value``; ``where`` names the file and key for errors."""
    if isinstance(value, Mapping):
        return {k: render(v, jenv, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, jenv, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
        return value
    try:
        return jenv.from_string(value).render()
    except _MissingEnvVar as exc:
        raise ConfigError(
            f"{where}: environment variable {exc.name!r} is not set "
            f"(use env_var({exc.name!r}, 'default') for an optional value)"
        ) from None
    except jinja2.TemplateError as exc:
        # Not str(exc): it may quote the template line, and the line may hold a secret.
        reason = redact(exc.message or type(exc).__name__, value)
        raise ConfigError(f"{where}: cannot render {{{{ ... }}}}: {reason}") from None
    except Exception as exc:  # e.g. env_var() called with the wrong arguments
        reason = redact(f"{type(exc).__name__}: {exc}", value)
        raise ConfigError(f"{where}: cannot render {{{{ ... }}}}: {reason}") from None
