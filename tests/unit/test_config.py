"""meta.gainsight: schema, semantic rules, normalisation, fingerprint, column checks."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from dbt_gainsight.config import (
    FieldMapping,
    Lookup,
    ObjectKind,
    SyncConfig,
    check_columns,
    load_schema,
    parse_sync_config,
)
from dbt_gainsight.errors import ConfigError

YAML_PATH = "models/gainsight/schema.yml"
MODEL = "gs_companies"
ALLOWED_TOP = (
    "batch_size, behavior, connection, deletes, enabled, fields, keys, lookups, nulls, object"
)
ALLOWED_LOOKUP = "match, multi_match, object, on_no_match"
OBJECTS = (
    "Company, Relationship, Person, CompanyPerson, RelationshipPerson, "
    "or a custom object named <Name>__gc"
)


def company(**over: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "object": "Company",
        "keys": ["Name"],
        "fields": {"company_name": "Name", "arr": "Arr"},
    }
    meta.update(over)
    return meta


def person(obj: str = "Person", **over: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"object": obj, "fields": {"email": "Email", "first": "FirstName"}}
    meta.update(over)
    return meta


CSM = {"object": "GsUser", "match": {"csm_email": "Email"}}


def problems(meta: Any) -> list[tuple[str, str]]:
    try:
        parse_sync_config(meta, model=MODEL, unique_id="", yaml_path=YAML_PATH)
    except ConfigError as exc:
        return [(p.key_path, p.message) for p in exc.problems]
    return []


def parse(meta: Any) -> SyncConfig:
    return parse_sync_config(
        meta, model=MODEL, unique_id=f"model.proj.{MODEL}", yaml_path=YAML_PATH
    )


# --------------------------------------------------------------------------- bad configs

BAD: list[tuple[str, Any, list[tuple[str, str]]]] = [
    (
        "behavior-typo",
        company(behavior="upsrt"),
        [("meta.gainsight.behavior", "'upsrt' is not one of ['upsert', 'update_only']")],
    ),
    (
        "behavior-null",
        company(behavior=None),
        [("meta.gainsight.behavior", "null is not one of ['upsert', 'update_only']")],
    ),
    (
        "unknown-key-suggested",
        company(feilds={"a": "B"}),
        [
            (
                "meta.gainsight.feilds",
                f"unknown key 'feilds'; did you mean 'fields'? (allowed: {ALLOWED_TOP})",
            )
        ],
    ),
    (
        "unknown-key-no-suggestion",
        company(colour="blue"),
        [("meta.gainsight.colour", f"unknown key 'colour' (allowed: {ALLOWED_TOP})")],
    ),
    (
        "not-a-mapping",
        "Company",
        [("meta.gainsight", "expected a mapping, got the string 'Company'")],
    ),
    (
        "missing-object",
        {"keys": ["Name"], "fields": {"company_name": "Name"}},
        [("meta.gainsight", "missing required key 'object'")],
    ),
    (
        "missing-fields",
        {"object": "Company", "keys": ["Name"]},
        [("meta.gainsight", "missing required key 'fields'")],
    ),
    (
        "object-typo",
        company(object="Compny"),
        [
            (
                "meta.gainsight.object",
                f"unknown object 'Compny'; did you mean 'Company'? (allowed: {OBJECTS})",
            )
        ],
    ),
    (
        "object-wrong-case",
        company(object="company"),
        [
            (
                "meta.gainsight.object",
                f"unknown object 'company'; did you mean 'Company'? (allowed: {OBJECTS})",
            )
        ],
    ),
    (
        "custom-object-without-gc",
        company(object="Usage_Summary"),
        [
            (
                "meta.gainsight.object",
                "unknown object 'Usage_Summary'; did you mean 'Usage_Summary__gc'? "
                f"(allowed: {OBJECTS})",
            )
        ],
    ),
    (
        "custom-object-salesforce-suffix",
        company(object="Usage_Summary__c"),
        [
            (
                "meta.gainsight.object",
                "unknown object 'Usage_Summary__c'; did you mean 'Usage_Summary__gc'? "
                f"(allowed: {OBJECTS})",
            )
        ],
    ),
    (
        "object-not-a-string",
        company(object=42),
        [("meta.gainsight.object", "expected a string, got the number 42")],
    ),
    (
        "keys-empty",
        company(keys=[]),
        [("meta.gainsight.keys", "expected 1 to 3 keys, got none")],
    ),
    (
        "keys-too-many",
        company(keys=["Name", "Arr", "Mrr", "Stage"]),
        [("meta.gainsight.keys", "expected 1 to 3 keys, got 4")],
    ),
    (
        "keys-duplicate",
        company(keys=["Name", "Name"]),
        [("meta.gainsight.keys[1]", "duplicate key 'Name'")],
    ),
    (
        "keys-a-string",
        company(keys="Name"),
        [("meta.gainsight.keys", "expected a list, got the string 'Name'")],
    ),
    (
        "key-not-mapped",
        company(keys=["Nmae"]),
        [
            (
                "meta.gainsight.keys[0]",
                "key 'Nmae' is not a mapped target; did you mean 'Name'? (mapped: Arr, Name)",
            )
        ],
    ),
    (
        "key-is-a-lookup",
        company(keys=["Csm"], lookups={"Csm": CSM}),
        [("meta.gainsight.keys[0]", "key 'Csm' is a lookup; keys must be fields mapped in fields")],
    ),
    (
        "data-object-without-keys",
        {"object": "Company", "fields": {"company_name": "Name"}},
        [
            (
                "meta.gainsight",
                "missing required key 'keys' (1 to 3 fields that identify a Company record)",
            )
        ],
    ),
    (
        "fields-empty",
        company(fields={}),
        [("meta.gainsight.fields", "map at least one column to a Gainsight field")],
    ),
    (
        "fields-a-list",
        company(fields=["company_name"]),
        [("meta.gainsight.fields", "expected a mapping, got a list")],
    ),
    (
        "field-target-null",
        company(fields={"company_name": "Name", "arr": None}),
        [("meta.gainsight.fields.arr", "expected a string, got null")],
    ),
    (
        "field-target-empty",
        company(fields={"company_name": "Name", "arr": ""}),
        [("meta.gainsight.fields.arr", "must not be empty")],
    ),
    (
        "field-key-not-a-string",
        company(fields={"company_name": "Name", True: "Active"}),
        [("meta.gainsight.fields", "key true is not a string; quote it in the YAML")],
    ),
    (
        "duplicate-target",
        company(fields={"company_name": "Name", "name2": "Name"}),
        [
            (
                "meta.gainsight.fields.name2",
                "target 'Name' is already mapped from column 'company_name'",
            )
        ],
    ),
    (
        "system-field",
        company(fields={"company_name": "Name", "gsid": "Gsid"}),
        [("meta.gainsight.fields.gsid", "'Gsid' is a system field and cannot be written")],
    ),
    (
        "system-field-any-case",
        company(fields={"company_name": "Name", "created": "createddate"}),
        [
            (
                "meta.gainsight.fields.created",
                "'createddate' is a system field and cannot be written",
            )
        ],
    ),
    (
        "system-field-lookup",
        company(lookups={"ModifiedBy": CSM}),
        [
            (
                "meta.gainsight.lookups.ModifiedBy",
                "'ModifiedBy' is a system field and cannot be written",
            )
        ],
    ),
    (
        "lookup-also-a-target",
        company(fields={"company_name": "Name", "csm": "Csm"}, lookups={"Csm": CSM}),
        [
            (
                "meta.gainsight.lookups.Csm",
                "'Csm' is both a lookup and the target of column 'csm' in fields; keep one",
            )
        ],
    ),
    (
        "lookup-missing-match",
        company(lookups={"Csm": {"object": "GsUser"}}),
        [("meta.gainsight.lookups.Csm", "missing required key 'match'")],
    ),
    (
        "lookup-unknown-key",
        company(lookups={"Csm": {"object": "GsUser", "mach": {"csm_email": "Email"}}}),
        [
            ("meta.gainsight.lookups.Csm", "missing required key 'match'"),
            (
                "meta.gainsight.lookups.Csm.mach",
                f"unknown key 'mach'; did you mean 'match'? (allowed: {ALLOWED_LOOKUP})",
            ),
        ],
    ),
    (
        "lookup-multi-match",
        company(lookups={"Csm": {**CSM, "multi_match": "first"}}),
        [
            (
                "meta.gainsight.lookups.Csm.multi_match",
                "'first' is not one of ['first_match', 'error']",
            )
        ],
    ),
    (
        "lookup-on-no-match",
        company(lookups={"Csm": {**CSM, "on_no_match": "skip"}}),
        [
            (
                "meta.gainsight.lookups.Csm.on_no_match",
                "'skip' is not one of ['error', 'null', 'default']",
            )
        ],
    ),
    (
        "lookup-match-empty",
        company(lookups={"Csm": {"object": "GsUser", "match": {}}}),
        [("meta.gainsight.lookups.Csm.match", "expected 1 to 3 columns to match on, got 0")],
    ),
    (
        "lookup-match-too-many",
        company(
            lookups={"Csm": {"object": "GsUser", "match": {"a": "A", "b": "B", "c": "C", "d": "D"}}}
        ),
        [("meta.gainsight.lookups.Csm.match", "expected 1 to 3 columns to match on, got 4")],
    ),
    (
        "lookup-not-a-mapping",
        company(lookups={"Csm": "GsUser"}),
        [("meta.gainsight.lookups.Csm", "expected a mapping, got the string 'GsUser'")],
    ),
    (
        "nulls",
        company(nulls="keep"),
        [("meta.gainsight.nulls", "'keep' is not one of ['skip', 'send']")],
    ),
    (
        "batch-size-too-big",
        company(batch_size=51),
        [("meta.gainsight.batch_size", "must be between 1 and 50, got 51")],
    ),
    (
        "batch-size-zero",
        company(batch_size=0),
        [("meta.gainsight.batch_size", "must be between 1 and 50, got 0")],
    ),
    (
        "batch-size-string",
        company(batch_size="50"),
        [("meta.gainsight.batch_size", "expected an integer, got the string '50'")],
    ),
    (
        "batch-size-bool",
        company(batch_size=True),
        [("meta.gainsight.batch_size", "expected an integer, got true")],
    ),
    (
        "enabled-string",
        company(enabled="yes"),
        [("meta.gainsight.enabled", "expected true or false, got the string 'yes'")],
    ),
    (
        "connection-empty",
        company(connection=""),
        [("meta.gainsight.connection", "must not be empty")],
    ),
    (
        "connection-number",
        company(connection=5),
        [("meta.gainsight.connection", "expected a string or null, got the number 5")],
    ),
    (
        "person-without-email",
        person(fields={"first": "FirstName"}),
        [
            (
                "meta.gainsight.fields",
                "Person needs a column mapped to 'Email' (people are identified by email)",
            )
        ],
    ),
    (
        "person-email-wrong-case",
        person(fields={"email": "email"}),
        [
            (
                "meta.gainsight.fields",
                "Person needs a column mapped to 'Email'; did you mean 'email'? "
                "(people are identified by email)",
            ),
        ],
    ),
    (
        "person-keys-without-email",
        person(keys=["FirstName"]),
        [("meta.gainsight.keys", "keys of Person must include 'Email'")],
    ),
    (
        "person-deletes",
        person(deletes={"enabled": True}),
        [
            (
                "meta.gainsight.deletes.enabled",
                "mirror deletes are for data objects; a Person is never deleted by "
                "dbt-gainsight (a person may belong to other companies and integrations). "
                "Remove the deletes block",
            )
        ],
    ),
    (
        "company-person-without-company",
        person("CompanyPerson", fields={"email": "Email", "title": "Company_Person.Title"}),
        [
            (
                "meta.gainsight.fields",
                "CompanyPerson needs a Company.<Field> target (normally 'Company.Name') "
                "to find the company to link to",
            )
        ],
    ),
    (
        "relationship-person-without-relationship",
        person("RelationshipPerson", fields={"email": "Email", "co": "Company.Name"}),
        [
            (
                "meta.gainsight.fields",
                "RelationshipPerson needs a Relationship.<Field> target (normally "
                "'Relationship.Name') to find the relationship to link to",
            )
        ],
    ),
    (
        "company-person-two-companies",
        person(
            "CompanyPerson",
            fields={"email": "Email", "co": "Company.Name", "ext": "Company.ExternalId"},
        ),
        [
            (
                "meta.gainsight.fields",
                "only one Company.* target is allowed (found Company.Name, Company.ExternalId): "
                "it identifies the one company to link to",
            )
        ],
    ),
    (
        "company-person-field-on-person",
        person(fields={"email": "Email", "title": "Company_Person.Title"}),
        [
            (
                "meta.gainsight.fields.title",
                "'Company_Person.Title': Company_Person.* targets are only allowed on "
                "CompanyPerson, not on Person",
            )
        ],
    ),
    (
        "relationship-person-field-on-company-person",
        person(
            "CompanyPerson",
            fields={"email": "Email", "co": "Company.Name", "role": "Relationship_Person.Role"},
        ),
        [
            (
                "meta.gainsight.fields.role",
                "'Relationship_Person.Role': Relationship_Person.* targets are only allowed on "
                "RelationshipPerson, not on CompanyPerson",
            )
        ],
    ),
    (
        "company-target-on-person",
        person(fields={"email": "Email", "co": "Company.Name"}),
        [
            (
                "meta.gainsight.fields.co",
                "'Company.Name': Company.* targets are only allowed on CompanyPerson and "
                "RelationshipPerson, not on Person",
            )
        ],
    ),
    (
        "company-target-on-company",
        company(fields={"company_name": "Name", "parent": "Company.Name"}),
        [
            (
                "meta.gainsight.fields.parent",
                "'Company.Name': Company.* targets are only allowed on CompanyPerson and "
                "RelationshipPerson, not on Company",
            )
        ],
    ),
    (
        "dotted-target-on-custom-object",
        company(object="Usage__gc", fields={"company_name": "Name", "x": "Foo.Bar"}),
        [
            (
                "meta.gainsight.fields.x",
                "'Foo.Bar': dotted targets are only for people objects; to point at another "
                "object's record, use lookups",
            )
        ],
    ),
    (
        "people-unknown-prefix",
        person(
            "CompanyPerson",
            fields={"email": "Email", "co": "Company.Name", "x": "Compnay_Person.Title"},
        ),
        [
            (
                "meta.gainsight.fields.x",
                "unknown prefix 'Compnay_Person' in 'Compnay_Person.Title'; did you mean "
                "'Company_Person'? (allowed: Company., Relationship., Company_Person., "
                "Relationship_Person.)",
            )
        ],
    ),
    (
        "prefix-without-field",
        person("CompanyPerson", fields={"email": "Email", "co": "Company."}),
        [("meta.gainsight.fields.co", "'Company.': expected Company.<Field>")],
    ),
    (
        "link-system-field",
        person(
            "CompanyPerson",
            fields={"email": "Email", "co": "Company.Name", "g": "Company_Person.Gsid"},
        ),
        [
            (
                "meta.gainsight.fields.g",
                "'Company_Person.Gsid' is a system field and cannot be written",
            )
        ],
    ),
]


@pytest.mark.parametrize(("meta", "expected"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_config_reports_exact_problem(meta: Any, expected: list[tuple[str, str]]) -> None:
    assert problems(meta) == expected
    with pytest.raises(ConfigError) as info:
        parse(meta)
    assert [(p.key_path, p.message) for p in info.value.problems] == expected
    for key, message in expected:
        assert f"{YAML_PATH}: {MODEL}: {key}: {message}" in str(info.value)


def test_at_least_25_bad_configs() -> None:
    assert len(BAD) >= 25


def test_all_problems_at_once_sorted_by_path() -> None:
    meta = {
        "object": "Compny",
        "behavior": "upsrt",
        "keys": ["Name", "Name"],
        "feilds": {},
        "fields": {"a": "Gsid", "b": None},
        "batch_size": 0,
        "lookups": {"Csm": {"object": "GsUser", "mach": {}}},
    }
    with pytest.raises(ConfigError) as info:
        parse(meta)
    got = [(p.key_path, p.message) for p in info.value.problems]
    assert got == [
        ("meta.gainsight.batch_size", "must be between 1 and 50, got 0"),
        ("meta.gainsight.behavior", "'upsrt' is not one of ['upsert', 'update_only']"),
        (
            "meta.gainsight.feilds",
            f"unknown key 'feilds'; did you mean 'fields'? (allowed: {ALLOWED_TOP})",
        ),
        ("meta.gainsight.fields.a", "'Gsid' is a system field and cannot be written"),
        ("meta.gainsight.fields.b", "expected a string, got null"),
        ("meta.gainsight.keys[1]", "duplicate key 'Name'"),
        ("meta.gainsight.lookups.Csm", "missing required key 'match'"),
        (
            "meta.gainsight.lookups.Csm.mach",
            f"unknown key 'mach'; did you mean 'match'? (allowed: {ALLOWED_LOOKUP})",
        ),
        (
            "meta.gainsight.object",
            f"unknown object 'Compny'; did you mean 'Company'? (allowed: {OBJECTS})",
        ),
    ]
    text = str(info.value)
    assert text.splitlines()[0] == f"{YAML_PATH}: {MODEL}: invalid meta.gainsight (9 problems)"
    assert (
        f"  - {YAML_PATH}: {MODEL}: meta.gainsight.behavior: "
        "'upsrt' is not one of ['upsert', 'update_only']" in text.splitlines()
    )
    assert all(p.model == MODEL and p.yaml_path == YAML_PATH for p in info.value.problems)


def test_validate_returns_empty_list_for_good_config() -> None:
    assert problems(company()) == []


def test_input_is_not_mutated() -> None:
    meta = company(lookups={"Csm": {**CSM, "on_no_match": None}})
    before = copy.deepcopy(meta)
    parse(meta)
    assert meta == before


# --------------------------------------------------------------------------- good configs


def test_company_with_lookup() -> None:
    meta = yaml.safe_load(
        """
        object: Company
        behavior: update_only
        keys: [Name]
        fields:
          company_name: Name
          arr: Arr
          renewal_date: RenewalDate
        lookups:
          Csm:
            object: GsUser
            match: {csm_email: Email}
            multi_match: error
            on_no_match: null
        nulls: send
        connection: sandbox
        enabled: false
        batch_size: 20
        """
    )
    config = parse(meta)
    assert config == SyncConfig(
        model=MODEL,
        unique_id=f"model.proj.{MODEL}",
        yaml_path=YAML_PATH,
        object="Company",
        kind=ObjectKind.DATA,
        behavior="update_only",
        keys=("Name",),
        fields=(
            FieldMapping("company_name", "Name"),
            FieldMapping("arr", "Arr"),
            FieldMapping("renewal_date", "RenewalDate"),
        ),
        lookups=(
            Lookup(
                field="Csm",
                object="GsUser",
                match=(("csm_email", "Email"),),
                multi_match="MARKASERROR",
                on_no_match="NULLABLE",
            ),
        ),
        nulls="send",
        connection="sandbox",
        enabled=False,
        batch_size=20,
    )
    assert config.columns == ("company_name", "arr", "renewal_date", "csm_email")
    assert config.key_columns == ("company_name",)
    assert not config.is_people


def test_defaults() -> None:
    config = parse(company(lookups={"Csm": CSM}))
    assert config.behavior == "upsert"
    assert config.nulls == "skip"
    assert config.connection is None
    assert config.enabled is True
    assert config.batch_size == 50
    assert config.lookups[0].multi_match == "FIRSTMATCH"
    assert config.lookups[0].on_no_match == "ERROR"


@pytest.mark.parametrize(
    ("value", "api"),
    [("error", "ERROR"), ("null", "NULLABLE"), (None, "NULLABLE"), ("default", "DEFAULTVALUE")],
)
def test_on_no_match_api_spelling(value: str | None, api: str) -> None:
    config = parse(company(lookups={"Csm": {**CSM, "on_no_match": value}}))
    assert config.lookups[0].on_no_match == api


def test_custom_object() -> None:
    config = parse(
        {
            "object": "Usage_Summary__gc",
            "keys": ["Usage_Id__gc", "Month__gc"],
            "fields": {"usage_id": "Usage_Id__gc", "month": "Month__gc", "logins": "Logins__gc"},
            "lookups": {"Company__gc": {"object": "Company", "match": {"company_name": "Name"}}},
        }
    )
    assert config.object == "Usage_Summary__gc"
    assert config.kind is ObjectKind.DATA
    assert config.key_columns == ("usage_id", "month")
    assert config.columns == ("usage_id", "month", "logins", "company_name")


def test_person_default_keys() -> None:
    config = parse(person())
    assert config.object == "Person"
    assert config.kind is ObjectKind.PERSON
    assert config.keys == ("Email",)
    assert config.key_columns == ("email",)
    assert config.is_people


def test_company_person() -> None:
    config = parse(
        {
            "object": "CompanyPerson",
            "fields": {
                "email": "Email",
                "first_name": "FirstName",
                "company_name": "Company.Name",
                "title": "Company_Person.Title",
            },
        }
    )
    assert config.kind is ObjectKind.COMPANY_PERSON
    assert config.keys == ("Email", "Company.Name")
    assert config.key_columns == ("email", "company_name")


def test_company_person_explicit_keys() -> None:
    config = parse(
        {
            "object": "CompanyPerson",
            "keys": ["Email"],
            "fields": {"email": "Email", "company_name": "Company.Name"},
        }
    )
    assert config.keys == ("Email",)


def test_relationship_person() -> None:
    config = parse(
        {
            "object": "RelationshipPerson",
            "fields": {
                "email": "Email",
                "relationship_name": "Relationship.Name",
                "company_name": "Company.Name",
                "role": "Relationship_Person.Role",
            },
        }
    )
    assert config.kind is ObjectKind.RELATIONSHIP_PERSON
    assert config.keys == ("Email", "Relationship.Name")
    assert config.key_columns == ("email", "relationship_name")


@pytest.mark.parametrize(
    ("alias", "name", "kind"),
    [
        ("Company Person", "CompanyPerson", ObjectKind.COMPANY_PERSON),
        ("Company_Person", "CompanyPerson", ObjectKind.COMPANY_PERSON),
        ("Relationship Person", "RelationshipPerson", ObjectKind.RELATIONSHIP_PERSON),
        ("Relationship_Person", "RelationshipPerson", ObjectKind.RELATIONSHIP_PERSON),
    ],
)
def test_aliases_normalised(alias: str, name: str, kind: ObjectKind) -> None:
    fields = {"email": "Email", "co": "Company.Name", "rel": "Relationship.Name"}
    if kind is ObjectKind.COMPANY_PERSON:
        del fields["rel"]
    config = parse({"object": alias, "fields": fields})
    assert (config.object, config.kind) == (name, kind)


def test_relationship_is_a_data_object() -> None:
    config = parse(
        {"object": "Relationship", "keys": ["Name"], "fields": {"name": "Name", "arr": "Arr"}}
    )
    assert config.kind is ObjectKind.DATA


def test_config_is_frozen() -> None:
    config = parse(company())
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.batch_size = 10  # type: ignore[misc]


def test_columns_deduplicated_case_insensitively() -> None:
    config = parse(
        company(
            fields={"company_name": "Name", "csm_email": "CsmEmail__gc"},
            lookups={"Csm": {"object": "GsUser", "match": {"CSM_EMAIL": "Email"}}},
        )
    )
    assert config.columns == ("company_name", "csm_email")


# --------------------------------------------------------------------------- fingerprint


def test_fingerprint_changes_with_what_is_sent() -> None:
    base = parse(company(lookups={"Csm": CSM})).fingerprint()
    assert len(base) == 64
    changed = [
        company(lookups={"Csm": CSM}, fields={"company_name": "Name", "arr": "Mrr"}),
        company(lookups={"Csm": CSM}, fields={"company_name": "Name", "annual": "Arr"}),
        company(lookups={"Csm": CSM}, behavior="update_only"),
        company(lookups={"Csm": CSM}, keys=["Arr"]),
        company(lookups={"Csm": CSM}, nulls="send"),
        company(lookups={"Csm": CSM}, connection="sandbox"),
        company(lookups={"Csm": {**CSM, "on_no_match": "null"}}),
        company(lookups={"Csm": {"object": "GsUser", "match": {"csm_name": "Name"}}}),
        company(),
        company(object="Relationship", lookups={"Csm": CSM}),
    ]
    prints = {parse(meta).fingerprint() for meta in changed}
    assert base not in prints
    assert len(prints) == len(changed)


def test_fingerprint_ignores_batch_size_enabled_and_order() -> None:
    base = parse(company(lookups={"Csm": CSM})).fingerprint()
    same = [
        company(lookups={"Csm": CSM}, batch_size=10),
        company(lookups={"Csm": CSM}, enabled=False),
        company(lookups={"Csm": CSM}, fields={"arr": "Arr", "company_name": "Name"}),
        company(lookups={"Csm": CSM}, behavior="upsert", nulls="skip"),
    ]
    for meta in same:
        assert parse(meta).fingerprint() == base
    renamed = parse_sync_config(
        company(lookups={"Csm": CSM}), model="other", unique_id="model.p.other", yaml_path="x.yml"
    )
    assert renamed.fingerprint() == base


# --------------------------------------------------------------------------- columns


def test_check_columns_ok_case_insensitive() -> None:
    config = parse(company(lookups={"Csm": CSM}))
    assert check_columns(config, ["COMPANY_NAME", "Arr", "csm_email", "extra"]) == []


def test_check_columns_reports_missing_with_model_columns() -> None:
    config = parse(company(lookups={"Csm": CSM}))
    found = check_columns(config, ["company_name", "arr_usd", "csm_mail"])
    assert [(p.key_path, p.message) for p in found] == [
        (
            "meta.gainsight.fields.arr",
            "column 'arr' is not in the model; did you mean 'arr_usd'? "
            "(columns: company_name, arr_usd, csm_mail)",
        ),
        (
            "meta.gainsight.lookups.Csm.match.csm_email",
            "column 'csm_email' is not in the model; did you mean 'csm_mail'? "
            "(columns: company_name, arr_usd, csm_mail)",
        ),
    ]
    assert str(found[0]).startswith(f"{YAML_PATH}: {MODEL}: meta.gainsight.fields.arr: ")


def test_check_columns_empty_model() -> None:
    config = parse(company())
    found = check_columns(config, [])
    # No near name: the SQL may select it and the table predate it (a new-user walkthrough).
    assert found[0].message == (
        "column 'company_name' is not in the model (columns: none); if the model's SQL selects "
        f"it, the built table is older than the SQL: dbt build -s {config.model}"
    )


# --------------------------------------------------------------------------- schema file


def _walk(schema: Any, path: str = "#"):
    if isinstance(schema, dict):
        yield path, schema
        for key, value in schema.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            yield from _walk(value, f"{path}/{i}")


def test_schema_is_valid_draft_2020_12() -> None:
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_schema_describes_every_property_and_forbids_extras() -> None:
    for path, node in _walk(load_schema()):
        if "properties" in node and path.split("/")[-1] != "properties":
            assert node.get("additionalProperties") is False, path
            for name, prop in node["properties"].items():
                assert prop.get("description"), f"{path}/properties/{name}"


def test_load_schema_returns_a_fresh_copy() -> None:
    load_schema()["title"] = "changed"
    assert load_schema()["title"] == "meta.gainsight"
