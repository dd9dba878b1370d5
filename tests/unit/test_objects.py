from __future__ import annotations

import pytest

from dbt_gainsight.gainsight.objects import (
    PEOPLE_API_OBJECT,
    SYSTEM_FIELDS,
    FieldSchema,
    ObjectKind,
    PicklistOption,
    parse_describe,
)

COMPANY = {
    "objectName": "Company",
    "label": "Company",
    "keyPrefix": "1P02",
    "fields": [
        {
            "fieldName": "Gsid",
            "label": "GSID",
            "dataType": "GSID",
            "meta": {"createable": False, "updateable": False, "nillable": False},
        },
        {
            "fieldName": "Name",
            "label": "Name",
            "dataType": "string",
            "meta": {
                "createable": True,
                "updateable": True,
                "required": True,
                "nillable": False,
                "length": 255,
            },
        },
        {"fieldName": "Arr", "dataType": "CURRENCY", "meta": {"decimalPlaces": 2}},
        {
            "fieldName": "Csm",
            "dataType": "LOOKUP",
            "meta": {"lookupDetail": {"lookupObjects": [{"objectName": "GsUser"}]}},
        },
        {
            "fieldName": "Stage",
            "dataType": "PICKLIST",
            "picklistDetails": [
                {"label": "New Customer", "value": "1I00A", "active": True},
                {"label": "Old", "value": "1I00B", "active": False},
            ],
        },
        {"fieldName": "ModifiedDate", "dataType": "DATETIME"},
    ],
}


def test_parse_describe_company():
    schema = parse_describe(COMPANY)
    assert (schema.name, schema.label, schema.key_prefix) == ("Company", "Company", "1P02")
    assert list(schema.fields) == ["Gsid", "Name", "Arr", "Csm", "Stage", "ModifiedDate"]
    name = schema.field("Name")
    assert name == FieldSchema(
        name="Name", data_type="STRING", required=True, nillable=False, length=255
    )
    assert name.createable and name.updateable
    assert schema.field("Arr").decimal_places == 2
    assert schema.field("Csm").lookup_object == "GsUser"
    assert schema.field("Stage").picklist == (
        PicklistOption("New Customer", "1I00A", True),
        PicklistOption("Old", "1I00B", False),
    )
    assert schema.field("name") is None
    assert schema.field("Missing") is None


def test_system_fields_are_not_writable():
    schema = parse_describe(COMPANY)
    gsid = schema.field("Gsid")
    assert not (gsid.createable or gsid.updateable)
    # No meta at all: still a system field, so not writable.
    modified = schema.field("ModifiedDate")
    assert not (modified.createable or modified.updateable)
    assert "CreatedBy" in SYSTEM_FIELDS


def test_fields_mapping_is_read_only():
    schema = parse_describe(COMPANY)
    with pytest.raises(TypeError):
        schema.fields["X"] = None  # type: ignore[index]


@pytest.mark.parametrize(
    "shape",
    [
        {"meta": {"picklistDetails": {"items": [{"label": "A", "gsid": "1", "isActive": True}]}}},
        {"options": [{"label": "A", "value": "1"}]},
        {"meta": {"options": ["A"]}},
    ],
)
def test_picklist_shapes(shape):
    field = {"fieldName": "P", "dataType": "PICKLIST", **shape}
    options = parse_describe({"objectName": "X", "fields": [field]}).field("P").picklist
    assert [o.label for o in options] == ["A"]
    assert options[0].active


def test_required_defaults_from_nillable_and_missing_name():
    schema = parse_describe(
        {"objectName": "X__gc", "fields": [{"fieldName": "K__gc", "meta": {"nillable": False}}]}
    )
    f = schema.field("K__gc")
    assert f.required and not f.nillable and f.data_type == "STRING"
    assert schema.label == "X__gc" and schema.key_prefix is None
    with pytest.raises(ValueError):
        parse_describe({"fields": []})


def test_object_kinds():
    assert PEOPLE_API_OBJECT[ObjectKind.COMPANY_PERSON] == "Company_Person"
