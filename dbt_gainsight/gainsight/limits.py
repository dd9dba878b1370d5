"""The fixed facts of Gainsight's API contract, each defined once.

Caps, enums and codes. Config validation, the client and the
plan import them from here, so a fact cannot drift between two copies.
"""

from __future__ import annotations

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
#: Codes that mean the access key was refused.
AUTH_CODES = frozenset({"GS_APIG_2401", "GS_APIG_2402", "GSOBJ_1024"})
#: Unknown API route: the URL is not a tenant's base address.
NO_ROUTE = "GS_APIG_1000"
#: The documented ``errorDesc`` of a query that matched nothing (``result: false``).
NO_DATA_DESC = "no data found"
