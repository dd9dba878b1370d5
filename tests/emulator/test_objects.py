"""Object definitions: docs/emulator-objects.md exactly, plus the --objects file."""

from __future__ import annotations

import pytest

from dbt_gainsight.emulator.objects import ObjectsFileError, apply_objects, builtin_objects

EXPECTED = {
    "Company": (
        "1P02",
        [
            "Name",
            "Arr",
            "Mrr",
            "Csm",
            "Industry",
            "Stage",
            "Status",
            "RenewalDate",
            "OriginalContractDate",
            "Employees",
            "Users",
            "ParentCompany",
            "LifecycleInWeeks",
            "ExternalId",
        ],
    ),
    "GsUser": ("1P01", ["Name", "FirstName", "LastName", "Email", "IsActiveUser"]),
    "Person": (
        "1C01",
        [
            "Email",
            "FirstName",
            "LastName",
            "Name",
            "LinkedinUrl",
            "Location",
            "Timezone",
            "EmailOptOut",
            "Phone",
        ],
    ),
    "Company_Person": (
        "1C02",
        ["Person_ID", "Company_ID", "Title", "Role", "IsPrimaryCompany", "Active"],
    ),
    "Relationship_Type": ("1P06", ["Name"]),
    "Relationship": (
        "1P05",
        ["Name", "CompanyId", "TypeId", "Arr", "Mrr", "RenewalDate", "Status"],
    ),
    "Relationship_Person": (
        "1C03",
        ["Person_ID", "Relationship_ID", "Company_ID", "Title", "Role", "Active"],
    ),
}
SYSTEM = ["Gsid", "CreatedDate", "ModifiedDate", "CreatedBy", "ModifiedBy"]


def test_builtin_objects_are_exactly_the_documented_ones():
    objs = builtin_objects()
    assert set(objs) == set(EXPECTED)
    for name, (prefix, fields) in EXPECTED.items():
        assert objs[name].key_prefix == prefix
        assert [f.name for f in objs[name].fields] == SYSTEM + fields
        for f in objs[name].fields[:5]:
            assert not f.createable and not f.updateable


def test_builtin_types_required_and_picklists():
    objs = builtin_objects()
    c = objs["Company"].by_name
    assert (c["Name"].data_type, c["Name"].length, c["Name"].required) == ("STRING", 255, True)
    assert (c["ExternalId"].length, c["Employees"].decimal_places) == (80, 0)
    assert c["Csm"].lookup_object == "GsUser" and c["ParentCompany"].lookup_object == "Company"
    assert [o.label for o in c["Status"].options] == ["Active", "Inactive", "Churned"]
    assert [o.label for o in c["Stage"].options][-1] == "Churned"
    assert len(c["Industry"].options) == 8
    assert all(o.value.startswith("1I00") for o in c["Industry"].options)
    r = objs["Relationship"].by_name
    assert [o.label for o in r["Status"].options] == ["Active", "Inactive", "Churned"]
    assert all(r[n].required for n in ("Name", "CompanyId", "TypeId"))
    assert objs["Person"].by_name["Email"].required
    assert objs["Company_Person"].by_name["Company_ID"].required
    assert objs["Relationship_Person"].by_name["Relationship_ID"].required


def test_objects_file_adds_custom_objects_and_fields():
    objs = builtin_objects()
    apply_objects(
        {
            "objects": [
                {"objectName": "A__gc", "fields": [{"fieldName": "X__gc", "dataType": "NUMBER"}]},
                {"objectName": "Company", "fields": [{"fieldName": "Segment__gc"}]},
            ]
        },
        objs,
    )
    assert objs["A__gc"].object_type == "CUSTOM" and len(objs["A__gc"].key_prefix) == 4
    assert [f.name for f in objs["A__gc"].fields] == SYSTEM + ["X__gc"]
    assert objs["Company"].fields[-1].name == "Segment__gc"


@pytest.mark.parametrize(
    "doc, fragment",
    [
        ({"objects": [{"objectName": "Plain"}]}, "__gc"),
        (
            {
                "objects": [
                    {"objectName": "A__gc", "fields": [{"fieldName": "Y", "dataType": "BLOB"}]}
                ]
            },
            "BLOB",
        ),
        ({"objects": [{"objectName": "A__gc", "fields": [{"fieldName": "Gsid"}]}]}, "system"),
        (
            {
                "objects": [
                    {"objectName": "A__gc", "fields": [{"fieldName": "L", "dataType": "LOOKUP"}]}
                ]
            },
            "lookupDetail",
        ),
        (
            {
                "objects": [
                    {
                        "objectName": "A__gc",
                        "fields": [
                            {
                                "fieldName": "L",
                                "dataType": "LOOKUP",
                                "meta": {
                                    "lookupDetail": {"lookupObjects": [{"objectName": "Nope"}]}
                                },
                            }
                        ],
                    }
                ]
            },
            "Nope",
        ),
        ({"nope": 1}, "objects"),
    ],
)
def test_objects_file_errors_name_the_problem(doc, fragment):
    with pytest.raises(ObjectsFileError, match=fragment):
        apply_objects(doc, builtin_objects())
