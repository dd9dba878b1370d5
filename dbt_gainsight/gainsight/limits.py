"""The fixed facts of Gainsight's API contract, each defined once.

Caps, enums, codes and the rules for a tenant URL. Config validation, the client and the
plan import them from here, so a fact cannot drift between two copies.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from dbt_gainsight.errors import ConfigError

#: Records per data-objects write and per async people call.
MAX_BATCH = 50
#: Rows per query page.
MAX_PAGE = 5000
#: Values per IN condition in one query (our choice: keeps a query body well under 100 kB).
MAX_IN_VALUES = 1000
#: Key fields an update (``PUT ?keys=``) may name.
MAX_KEY_FIELDS = 3
#: Field types an update may use as a key (documented: String, GSID, Number, Email).
KEY_TYPES = frozenset({"STRING", "GSID", "NUMBER", "EMAIL"})
#: Key types Gainsight compares case-insensitively, so the client case-folds them.
CASE_INSENSITIVE_TYPES = frozenset({"EMAIL"})
#: Fields Gainsight sets itself; never writable.
SYSTEM_FIELDS = frozenset({"Gsid", "CreatedDate", "ModifiedDate", "CreatedBy", "ModifiedBy"})
#: Lookup options on write.
MULTI_MATCH_OPTIONS = frozenset({"FIRSTMATCH", "MARKASERROR"})
NO_MATCH_OPTIONS = frozenset({"ERROR", "NULLABLE", "DEFAULTVALUE"})
#: Query operators.
OPERATORS = frozenset(
    {
        "EQ",
        "NE",
        "IN",
        "BTW",
        "GT",
        "GTE",
        "LT",
        "LTE",
        "CONTAINS",
        "STARTS_WITH",
        "ENDS_WITH",
        "IS_NULL",
        "IS_NOT_NULL",
    }
)
#: "No entity matches the given criteria": an update's keys match nothing (or a query, 400).
NOT_FOUND = "GSOBJ_1011"
#: A delete named a blank or unknown Gsid (also what a repeated, already applied delete gets).
DELETE_NOT_FOUND = "GSOBJ_1004"
#: Codes that mean the access key was refused.
AUTH_CODES = frozenset({"GS_APIG_2401", "GS_APIG_2402", "GSOBJ_1024"})
#: "Invalid API called": a call (write, query) names an object the tenant does not have.
UNKNOWN_OBJECT = "GSOBJ_1023"
#: Unknown API route: the URL is not a tenant's base address.
NO_ROUTE = "GS_APIG_1000"
#: The documented ``errorDesc`` of a query that matched nothing (``result: false``).
NO_DATA_DESC = "no data found"

#: Hosts that may be reached over plain http (a local emulator): the key never leaves the box.
LOOPBACK_HOSTS = frozenset({"localhost"})


#: A host name without a scheme (``acme.gainsightcloud.com``): shown when refused.
_HOST_LIKE = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(:\d+)?(/[^?#]*)?")


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(
    url: str, *, where: str = "GAINSIGHT_URL", allow_insecure_http: bool = False
) -> str:
    """Normalise a tenant URL (no trailing ``/`` or ``/v1``) or raise ConfigError saying why.

    https is required, except for loopback hosts (the emulator) or with the documented
    opt-out ``allow_insecure_http: true``: over http the access key travels in clear text.
    User info, a query or a fragment are refused, and the message never repeats a password.
    """
    raw = (url or "").strip()
    example = "e.g. https://acme.gainsightcloud.com"
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises for a port out of range or not a number
        shown = _redacted_url(raw)
    except ValueError:  # an unclosed IPv6 bracket, a bad port: its text would echo the value
        raise ConfigError(
            f"{where}: not a usable URL (a port that is not a number from 0 to 65535, or an "
            f"unclosed '['; not shown: it may hold a secret); expected {example}"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        if "://" in raw or _HOST_LIKE.fullmatch(raw):
            shown = raw if _HOST_LIKE.fullmatch(raw) else shown
            raise ConfigError(f"{where}: {shown!r} is not an http(s) URL; expected {example}")
        raise ConfigError(  # it may be the access key, set in the URL's place
            f"{where}: the value is not an http(s) URL (not shown: it may be a secret); "
            f"expected {example}"
        )
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            f"{where}: {shown!r} holds user info; put the key in the access key setting, "
            f"never in the URL ({example})"
        )
    if parts.query or parts.fragment or raw.endswith(("?", "#")):
        raise ConfigError(f"{where}: {shown!r} has a query or fragment; expected {example}")
    if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(parts.hostname):
        raise ConfigError(
            f"{where}: {shown!r} is plain http, so the access key would travel in clear text;"
            " use https (or set allow_insecure_http: true on the connection in gainsight.yml)"
        )
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[:-3]
    return f"{parts.scheme}://{parts.netloc}{path}"


def _redacted_url(url: str) -> str:
    """The URL with its user info, query and fragment replaced by ``***``.

    Each may hold a password or a key (``?accesskey=...``).
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    shown = f"{parts.scheme}://{netloc}{parts.path}"
    if parts.query or url.endswith("?"):
        shown += "?***" if parts.query else "?"
    if parts.fragment or url.endswith("#"):
        shown += "#***" if parts.fragment else "#"
    return shown
