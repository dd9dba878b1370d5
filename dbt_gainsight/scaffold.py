"""`dbt-gainsight init`: propose a model's ``meta.gainsight`` block from its columns and describe.

Matching is by meaning, not by spelling: a column matches a field when their names agree once
case, underscores and the ``__gc`` suffix are ignored (``renewal_date`` -> ``RenewalDate``,
``usage_id`` -> ``Usage_Id__gc``), or the field's label agrees, or the object's own name is the
difference (``company_name`` -> ``Name`` on Company), or a common synonym says so (``arr``,
``annual_revenue`` -> ``Arr``). A column ``<lookup>_<field>`` becomes a lookup
(``csm_email`` -> ``Csm`` on GsUser by ``Email``). Each proposal says why, and marks a column
type that does not fit the field type, so a reviewer knows what to check.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dbt_gainsight.config.model import normalise_object
from dbt_gainsight.config.typecheck import NEVER, family
from dbt_gainsight.gainsight.objects import (
    PEOPLE_API_OBJECT,
    SYSTEM_FIELDS,
    FieldSchema,
    ObjectKind,
    ObjectSchema,
)

#: Column name (normalised) -> field names (normalised) it commonly means.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "annualrecurringrevenue": ("arr",),
    "annualrevenue": ("arr",),
    "monthlyrecurringrevenue": ("mrr",),
    "monthlyrevenue": ("mrr",),
    "contractstartdate": ("originalcontractdate",),
    "customersince": ("originalcontractdate",),
    "firstcontractdate": ("originalcontractdate",),
    "nextrenewaldate": ("renewaldate",),
    "renewal": ("renewaldate",),
    "activeusers": ("users",),
    "usercount": ("users",),
    "numusers": ("users",),
    "employeecount": ("employees",),
    "numemployees": ("employees",),
    "headcount": ("employees",),
    "jobtitle": ("title",),
    "phonenumber": ("phone",),
    "linkedin": ("linkedinurl",),
    "emailaddress": ("email",),
    "givenname": ("firstname",),
    "familyname": ("lastname",),
    "surname": ("lastname",),
    "externalid": ("externalid",),
    "crmid": ("externalid",),
}
KEY_TYPES = frozenset({"STRING", "NUMBER", "EMAIL", "GSID"})
#: People kinds: the link object (its fields go under ``<Prefix>.``) and the parent prefix.
_PEOPLE_LINKS = {
    ObjectKind.COMPANY_PERSON: ("Company_Person", "Company"),
    ObjectKind.RELATIONSHIP_PERSON: ("Relationship_Person", "Relationship"),
}


def norm(name: str) -> str:
    """``Usage_Id__gc`` / ``usage_id`` / ``Usage Id`` -> ``usageid``."""
    return re.sub(r"[^0-9a-z]", "", re.sub(r"__gc$", "", name, flags=re.IGNORECASE).casefold())


def _stem(field_name: str) -> str:
    """A lookup field's stem: ``CompanyId`` / ``Company_ID`` / ``Company__gc`` -> ``company``."""
    n = norm(field_name)
    return n[:-2] if n.endswith("id") and len(n) > 2 else n


@dataclass(frozen=True)
class Column:
    """A model column and its warehouse type (None when only the YAML declares it untyped)."""

    name: str
    data_type: str | None = None
    unique: bool = False


@dataclass
class Mapped:
    """One proposed ``fields`` entry."""

    column: str
    target: str
    reason: str
    mismatch: str | None = None


@dataclass
class LookupProposal:
    """One proposed ``lookups`` entry: ``field`` found on ``object`` by ``column`` = ``match``."""

    field: str
    object: str
    column: str
    match: str
    reason: str
    mismatch: str | None = None


@dataclass
class Proposal:
    """What init proposes for one model, with the reason for each part."""

    model: str
    object: str
    kind: ObjectKind
    keys: list[str] = field(default_factory=list)
    key_reason: str = ""
    fields: list[Mapped] = field(default_factory=list)
    lookups: list[LookupProposal] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    missing_required: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: The gainsight.yml connection whose describe this was built from (None: ``default``).
    connection: str | None = None

    @property
    def mismatches(self) -> list[str]:
        """Columns whose type does not fit their field's type."""
        return [m.column for m in [*self.fields, *self.lookups] if m.mismatch]

    def block(self) -> dict:
        """The ``meta.gainsight`` block as plain data (what a YAML loader would read back)."""
        out: dict = {"object": self.object}
        if self.connection:
            out["connection"] = self.connection
        out["behavior"] = "upsert"
        if self.keys:
            out["keys"] = list(self.keys)
        out["fields"] = {m.column: m.target for m in self.fields}
        if self.lookups:
            out["lookups"] = {
                lk.field: {"object": lk.object, "match": {lk.column: lk.match}}
                for lk in self.lookups
            }
        return out


# --------------------------------------------------------------------------- types


def type_mismatch(column: Column, target: FieldSchema) -> str | None:
    """Why no value of the column's type would convert to the field's type, else None.

    The rule is validate --online's (config/typecheck.py): a text column may hold dates or
    numbers, so only types that can never convert are marked.
    """
    if not column.data_type:
        return None
    if family(column.data_type) in NEVER.get(target.data_type.upper(), ()):
        return f"column is {column.data_type}, field is {target.data_type}"
    return None


# --------------------------------------------------------------------------- matching


class _Targets:
    """The writable fields a column may map to, indexed by normalised name and label."""

    def __init__(self) -> None:
        self.by_norm: dict[str, tuple[str, FieldSchema]] = {}
        self.taken: set[str] = set()

    def add(self, target: str, schema: FieldSchema, label: str) -> None:
        for key in (norm(schema.name), norm(label)):
            self.by_norm.setdefault(key, (target, schema))

    def get(self, key: str) -> tuple[str, FieldSchema] | None:
        hit = self.by_norm.get(key)
        return hit if hit and hit[0] not in self.taken else None


class Catalog:
    """Describes of the objects a proposal looks at, with their field labels (asked once each)."""

    def __init__(self, describe: Callable[[str], ObjectSchema], raw: Callable[[str], dict]):
        self._describe, self._raw = describe, raw
        self._schemas: dict[str, ObjectSchema] = {}

    def schema(self, name: str) -> ObjectSchema:
        """The object's describe."""
        if name not in self._schemas:
            self._schemas[name] = self._describe(name)
        return self._schemas[name]

    def label(self, name: str, field_name: str) -> str:
        """A field's label (its name when describe gives none)."""
        self.schema(name)
        for raw in (self._raw(name) or {}).get("fields") or ():
            if (raw.get("fieldName") or raw.get("name")) == field_name:
                return str(raw.get("label") or field_name)
        return field_name


def _writable(schema: FieldSchema) -> bool:
    return schema.name not in SYSTEM_FIELDS and (schema.createable or schema.updateable)


def _object_words(name: str) -> list[str]:
    return [norm(p) for p in re.split(r"[_\s]+", re.sub(r"__gc$", "", name)) if p]


def _strip_words(key: str, words: Sequence[str]) -> list[str]:
    """``companyname`` without the object's words: ``name`` (prefix or suffix removed)."""
    out = []
    whole = "".join(words)
    for word in {whole, *words}:
        if word and key.startswith(word) and len(key) > len(word):
            out.append(key[len(word) :])
        if word and key.endswith(word) and len(key) > len(word):
            out.append(key[: -len(word)])
    return out


def propose(
    model: str,
    object_name: str,
    columns: Sequence[Column],
    catalog: Catalog,
    keys: Sequence[str] = (),
) -> Proposal:
    """Match ``columns`` to the object's fields, as described by ``catalog``."""
    resolved = normalise_object(object_name)
    if resolved is None:
        raise ValueError(f"unknown object {object_name!r}")
    obj, kind = resolved
    proposal = Proposal(model=model, object=obj, kind=kind)
    targets = _Targets()
    lookup_fields: list[FieldSchema] = []
    required: list[str] = []
    words = _object_words(obj)
    if kind == ObjectKind.DATA:
        for f in catalog.schema(obj).fields.values():
            if not _writable(f):
                continue
            if f.data_type == "LOOKUP" and f.lookup_object:
                lookup_fields.append(f)
            else:
                targets.add(f.name, f, catalog.label(obj, f.name))
            if f.required:
                required.append(f.name)
    else:
        person = PEOPLE_API_OBJECT[ObjectKind.PERSON]
        for f in catalog.schema(person).fields.values():
            if _writable(f) and f.data_type != "LOOKUP":
                targets.add(f.name, f, catalog.label(person, f.name))
        if kind in _PEOPLE_LINKS:
            link, parent = _PEOPLE_LINKS[kind]
            words = _object_words(parent)
            for f in catalog.schema(PEOPLE_API_OBJECT[kind]).fields.values():
                if _writable(f) and f.data_type != "LOOKUP":
                    targets.add(
                        f"{link}.{f.name}", f, catalog.label(PEOPLE_API_OBJECT[kind], f.name)
                    )
    passes: list[Callable[[Column], bool]] = [lambda c: _direct(proposal, targets, c)]
    if kind in _PEOPLE_LINKS:  # company_name is the person's company, not Person.Name
        parent = _PEOPLE_LINKS[kind][1]
        passes.append(lambda c: _people_parent(proposal, c, parent, catalog))
    passes += [
        lambda c: _without_object(proposal, targets, c, words),
        lambda c: _synonym(proposal, targets, c),
        lambda c: _lookup(proposal, obj, lookup_fields, c, catalog),
    ]
    pending = list(columns)
    for match in passes:
        pending = [c for c in pending if not match(c)]
    proposal.unmapped = [c.name for c in pending]
    order = {c.name: i for i, c in enumerate(columns)}
    proposal.fields.sort(key=lambda m: order[m.column])
    proposal.lookups.sort(key=lambda lk: order[lk.column])
    done = {m.target for m in proposal.fields} | {lk.field for lk in proposal.lookups}
    proposal.missing_required = [r for r in required if r not in done]
    if kind == ObjectKind.DATA:
        _choose_keys(proposal, columns, catalog.schema(obj), keys)
    elif keys:
        proposal.keys = list(keys)
        proposal.key_reason = "from --keys"
    return proposal


def _add(proposal: Proposal, targets: _Targets, column: Column, hit, reason: str) -> bool:
    target, schema = hit
    targets.taken.add(target)
    proposal.fields.append(Mapped(column.name, target, reason, type_mismatch(column, schema)))
    return True


def _direct(proposal: Proposal, targets: _Targets, column: Column) -> bool:
    hit = targets.get(norm(column.name))
    if not hit:
        return False
    by_label = norm(hit[1].name) != norm(column.name)
    return _add(proposal, targets, column, hit, "by label" if by_label else "by name")


def _without_object(proposal: Proposal, targets: _Targets, column: Column, words) -> bool:
    for key in _strip_words(norm(column.name), words):
        hit = targets.get(key)
        if hit:
            return _add(proposal, targets, column, hit, "by name, without the object's name")
    for key, hit in list(targets.by_norm.items()):  # the field carries the object's name
        if hit[0] not in targets.taken and norm(column.name) in _strip_words(key, words):
            return _add(proposal, targets, column, hit, "by name, without the object's name")
    return False


def _synonym(proposal: Proposal, targets: _Targets, column: Column) -> bool:
    for key in SYNONYMS.get(norm(column.name), ()):
        hit = targets.get(key)
        if hit:
            return _add(proposal, targets, column, hit, f"synonym of {hit[1].name}")
    return False


def _splits(name: str) -> list[tuple[str, str]]:
    parts = [p for p in re.split(r"[_\s]+", name) if p]
    return [
        ("".join(map(norm, parts[:i])), "".join(map(norm, parts[i:]))) for i in range(1, len(parts))
    ]


def _field_named(catalog: Catalog, obj: str, key: str) -> FieldSchema | None:
    for f in catalog.schema(obj).fields.values():
        if key in (norm(f.name), norm(catalog.label(obj, f.name))):
            return f
    return None


def _lookup(
    proposal: Proposal, obj: str, lookups: list[FieldSchema], column: Column, catalog: Catalog
) -> bool:
    """``csm_email`` -> Csm on GsUser by Email; ``relationship_type`` -> TypeId by Name."""
    taken = {lk.field for lk in proposal.lookups}
    free = [f for f in lookups if f.name not in taken]
    for prefix, rest in _splits(column.name):
        for f in free:
            if prefix not in (_stem(f.name), _stem(catalog.label(obj, f.name))):
                continue
            match = _field_named(catalog, f.lookup_object, rest)
            if match is not None:
                return _add_lookup(proposal, f, column, match, f"{prefix}_{rest} -> {f.name}")
    for f in free:  # the column names the looked-up object: match it by Name
        if norm(column.name) == norm(f.lookup_object):
            match = catalog.schema(f.lookup_object).field("Name")
            if match is not None:
                return _add_lookup(proposal, f, column, match, f"names {f.lookup_object}")
    return False


def _add_lookup(proposal, f: FieldSchema, column: Column, match: FieldSchema, why: str) -> bool:
    proposal.lookups.append(
        LookupProposal(
            field=f.name,
            object=f.lookup_object,
            column=column.name,
            match=match.name,
            reason=f"lookup: {why}",
            mismatch=type_mismatch(column, match),
        )
    )
    return True


def _people_parent(proposal: Proposal, column: Column, parent: str, catalog: Catalog) -> bool:
    """``company_name`` -> ``Company.Name``: the company (relationship) a person is linked to."""
    if any(m.target.startswith(f"{parent}.") for m in proposal.fields):
        return False
    for prefix, rest in _splits(column.name):
        if prefix == norm(parent):
            match = _field_named(catalog, parent, rest)
            if match is not None and match.data_type != "LOOKUP":
                mismatch = type_mismatch(column, match)
                reason = f"the person's {parent.lower()}, found by {match.name}"
                proposal.fields.append(
                    Mapped(column.name, f"{parent}.{match.name}", reason, mismatch)
                )
                return True
    return False


def _choose_keys(
    proposal: Proposal, columns: Sequence[Column], schema: ObjectSchema, keys: Sequence[str]
) -> None:
    """Keys from --keys, else the mapped field that is required and unique in dbt's tests."""
    if keys:
        proposal.keys = list(keys)
        proposal.key_reason = "from --keys"
        mapped = {m.target for m in proposal.fields}
        missing = [k for k in keys if k not in mapped]
        if missing:
            proposal.notes.append(f"keys {missing} are not mapped from any column: map them")
        return
    unique = {c.name for c in columns if c.unique}
    best: tuple[int, str, str] | None = None
    for m in proposal.fields:
        f = schema.field(m.target)
        if f is None or f.data_type not in KEY_TYPES:
            continue
        score = 2 * (m.column in unique) + f.required + (norm(f.name) in ("name", "externalid"))
        if score and (best is None or score > best[0]):
            why = [
                w
                for w, on in (
                    ("unique in dbt's tests", m.column in unique),
                    ("required by Gainsight", f.required),
                )
                if on
            ]
            best = (score, m.target, " and ".join(why) or "the object's name field")
    if best is None:
        proposal.notes.append("no key found: set keys to 1-3 fields that identify a record")
        return
    proposal.keys = [best[1]]
    proposal.key_reason = best[2]
