"""Object and field definitions: the built-ins of docs/emulator-objects.md plus an objects file.

One set of definitions feeds describe, the object list and the validator, so what the
emulator says about a field is exactly what it enforces.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SYSTEM_FIELDS = ("Gsid", "CreatedDate", "ModifiedDate", "CreatedBy", "ModifiedBy")

DATA_TYPES = frozenset(
    {
        "STRING",
        "EMAIL",
        "URL",
        "RICHTEXTAREA",
        "NUMBER",
        "CURRENCY",
        "PERCENTAGE",
        "BOOLEAN",
        "DATE",
        "DATETIME",
        "PICKLIST",
        "MULTISELECTDROPDOWNLIST",
        "GSID",
        "LOOKUP",
    }
)

# Default maximum lengths for text types when the definition gives none.
DEFAULT_LENGTH = {"STRING": 255, "EMAIL": 255, "URL": 1024, "RICHTEXTAREA": 32768}
# Types a PUT may use as keys: exactly String, GSID, Number, Email (docs/gainsight-api.md).
KEY_TYPES = frozenset({"STRING", "GSID", "NUMBER", "EMAIL"})


class ObjectsFileError(ValueError):
    """The --objects file is malformed; the message names the object and field."""


def picklist_item_gsid(object_name: str, field_name: str, label: str) -> str:
    """A stable picklist item Gsid (``1I00...``): the same across restarts and instances."""
    digest = hashlib.sha1(f"{object_name}.{field_name}.{label}".encode()).hexdigest()
    return "1I00" + digest[:32].upper()


@dataclass
class PicklistOption:
    """One picklist item: written by label, stored and queried as its Gsid."""

    label: str
    value: str
    active: bool = True


@dataclass
class FieldDef:
    """One field as describe reports it and the validator enforces it."""

    name: str
    data_type: str
    label: str = ""
    length: int | None = None
    decimal_places: int | None = None
    required: bool = False
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    lookup_object: str | None = None
    options: list[PicklistOption] = field(default_factory=list)
    slot: int = -1  # position in a stored row; -1 for Gsid (derived from the row number)

    def __post_init__(self) -> None:
        if not self.label:
            self.label = self.name
        if self.length is None and self.data_type in DEFAULT_LENGTH:
            self.length = DEFAULT_LENGTH[self.data_type]
        if self.required:
            self.nillable = False
        self.by_label = {o.label: o for o in self.options if o.active}
        self.by_value = {o.value: o for o in self.options}

    def set_options(self, object_name: str, labels: list[Any]) -> None:
        """Build picklist options from labels or ``{label, value?, active?}`` mappings."""
        opts = []
        for item in labels:
            if isinstance(item, str):
                item = {"label": item}
            label = str(item["label"])
            value = item.get("value") or picklist_item_gsid(object_name, self.name, label)
            opts.append(PicklistOption(label, value, bool(item.get("active", True))))
        self.options = opts
        self.by_label = {o.label: o for o in opts if o.active}
        self.by_value = {o.value: o for o in opts}

    def describe(self, object_name: str) -> dict[str, Any]:
        """The field in describe's shape."""
        meta: dict[str, Any] = {
            "createable": self.createable,
            "updateable": self.updateable,
            "required": self.required,
            "nillable": self.nillable,
            "length": self.length,
            "decimalPlaces": self.decimal_places,
        }
        if self.lookup_object:
            meta["lookupDetail"] = {
                "lookupObjects": [{"objectName": self.lookup_object, "fieldName": "Gsid"}],
                "lookupName": self.name.removesuffix("__gc") + "__gr",
            }
        out: dict[str, Any] = {
            "fieldName": self.name,
            "label": self.label,
            "dataType": self.data_type,
            "objectName": object_name,
            "meta": meta,
        }
        if self.data_type in ("PICKLIST", "MULTISELECTDROPDOWNLIST"):
            out["options"] = [
                {"label": o.label, "value": o.value, "active": o.active} for o in self.options
            ]
        return out


@dataclass
class ObjectDef:
    """One object: its fields in row order, key prefix and kind."""

    name: str
    key_prefix: str
    label: str = ""
    object_type: str = "STANDARD"
    fields: list[FieldDef] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.label:
            self.label = self.name.removesuffix("__gc").replace("_", " ")
        self.by_name: dict[str, FieldDef] = {}
        self.fields_by_slot: dict[int, FieldDef] = {}
        self.width = 0
        self.reindex()

    def reindex(self) -> None:
        """Assign row slots and the name index after fields change."""
        slot = 0
        self.by_name = {}
        for f in self.fields:
            if f.name == "Gsid":
                f.slot = -1
            else:
                f.slot = slot
                slot += 1
            self.by_name[f.name] = f
        self.width = slot
        self.fields_by_slot = {f.slot: f for f in self.fields if f.slot >= 0}

    def add_field(self, f: FieldDef) -> None:
        """Add or replace a field (objects file)."""
        self.fields = [x for x in self.fields if x.name != f.name] + [f]
        self.reindex()

    def describe(self) -> dict[str, Any]:
        """The object in describe's shape."""
        return {
            "objectName": self.name,
            "label": self.label,
            "objectType": self.object_type,
            "keyPrefix": self.key_prefix,
            "fields": [f.describe(self.name) for f in self.fields],
        }

    def list_entry(self) -> dict[str, Any]:
        """The object in the object list's shape (names lower-case, like Gainsight)."""
        return {
            "objectName": self.name.lower(),
            "label": self.label,
            "objectType": self.object_type,
            "keyPrefix": self.key_prefix,
            "createable": True,
            "updateable": True,
            "deletable": True,
        }


def _system_fields() -> list[FieldDef]:
    ro = {"createable": False, "updateable": False}
    return [
        FieldDef("Gsid", "GSID", "GSID", length=36, **ro),
        FieldDef("CreatedDate", "DATETIME", "Created Date", **ro),
        FieldDef("ModifiedDate", "DATETIME", "Modified Date", **ro),
        FieldDef("CreatedBy", "LOOKUP", "Created By", lookup_object="GsUser", **ro),
        FieldDef("ModifiedBy", "LOOKUP", "Modified By", lookup_object="GsUser", **ro),
    ]


def _s(name: str, **kw: Any) -> FieldDef:
    return FieldDef(name, "STRING", **kw)


def _lookup(name: str, target: str, **kw: Any) -> FieldDef:
    return FieldDef(name, "LOOKUP", lookup_object=target, **kw)


INDUSTRY = [
    "Software",
    "Healthcare",
    "Financial Services",
    "Retail",
    "Manufacturing",
    "Education",
    "Media",
    "Telecommunications",
]
STAGE = [
    "New Customer",
    "Kicked Off",
    "Launched",
    "Adopting",
    "Expanding",
    "Renewing",
    "Will Churn",
    "Churned",
]
STATUS = ["Active", "Inactive", "Churned"]

SEED_USERS = [
    ("Ava", "Patel"),
    ("Ben", "Okafor"),
    ("Chloe", "Martin"),
    ("Diego", "Alvarez"),
    ("Emma", "Johansson"),
]
SEED_RELATIONSHIP_TYPES = ["Product Line", "Subsidiary", "Business Unit"]


def _picklist(obj: str, name: str, labels: list[str]) -> FieldDef:
    f = FieldDef(name, "PICKLIST")
    f.set_options(obj, labels)
    return f


def builtin_objects() -> dict[str, ObjectDef]:
    """The objects of docs/emulator-objects.md, keyed by API name."""
    defs = [
        ObjectDef(
            "Company",
            "1P02",
            fields=[
                _s("Name", length=255, required=True),
                FieldDef("Arr", "CURRENCY", "ARR", decimal_places=2),
                FieldDef("Mrr", "CURRENCY", "MRR", decimal_places=2),
                _lookup("Csm", "GsUser", label="CSM"),
                _picklist("Company", "Industry", INDUSTRY),
                _picklist("Company", "Stage", STAGE),
                _picklist("Company", "Status", STATUS),
                FieldDef("RenewalDate", "DATE", "Renewal Date"),
                FieldDef("OriginalContractDate", "DATE", "Original Contract Date"),
                FieldDef("Employees", "NUMBER", decimal_places=0),
                FieldDef("Users", "NUMBER", decimal_places=0),
                _lookup("ParentCompany", "Company", label="Parent Company"),
                FieldDef("LifecycleInWeeks", "NUMBER", "Lifecycle In Weeks"),
                _s("ExternalId", label="External ID", length=80),
            ],
        ),
        ObjectDef(
            "GsUser",
            "1P01",
            label="User",
            object_type="SYSTEM",
            fields=[
                _s("Name"),
                _s("FirstName", label="First Name"),
                _s("LastName", label="Last Name"),
                FieldDef("Email", "EMAIL"),
                FieldDef("IsActiveUser", "BOOLEAN", "Is Active User"),
            ],
        ),
        ObjectDef(
            "Person",
            "1C01",
            fields=[
                FieldDef("Email", "EMAIL", required=True),
                _s("FirstName", label="First Name"),
                _s("LastName", label="Last Name"),
                _s("Name"),
                FieldDef("LinkedinUrl", "URL", "Linkedin Url"),
                _s("Location"),
                _s("Timezone"),
                FieldDef("EmailOptOut", "BOOLEAN", "Email Opt Out"),
                _s("Phone"),
            ],
        ),
        ObjectDef(
            "Company_Person",
            "1C02",
            label="Company Person",
            fields=[
                _lookup("Person_ID", "Person", label="Person ID"),
                _lookup("Company_ID", "Company", label="Company ID", required=True),
                _s("Title"),
                _s("Role"),
                FieldDef("IsPrimaryCompany", "BOOLEAN", "Is Primary Company"),
                FieldDef("Active", "BOOLEAN"),
            ],
        ),
        ObjectDef(
            "Relationship_Type",
            "1P06",
            label="Relationship Type",
            fields=[_s("Name", required=True)],
        ),
        ObjectDef(
            "Relationship",
            "1P05",
            fields=[
                _s("Name", required=True),
                _lookup("CompanyId", "Company", label="Company ID", required=True),
                _lookup("TypeId", "Relationship_Type", label="Type ID", required=True),
                FieldDef("Arr", "CURRENCY", "ARR", decimal_places=2),
                FieldDef("Mrr", "CURRENCY", "MRR", decimal_places=2),
                FieldDef("RenewalDate", "DATE", "Renewal Date"),
                _picklist("Relationship", "Status", STATUS),
            ],
        ),
        ObjectDef(
            "Relationship_Person",
            "1C03",
            label="Relationship Person",
            fields=[
                _lookup("Person_ID", "Person", label="Person ID"),
                _lookup("Relationship_ID", "Relationship", label="Relationship ID", required=True),
                _lookup("Company_ID", "Company", label="Company ID"),
                _s("Title"),
                _s("Role"),
                FieldDef("Active", "BOOLEAN"),
            ],
        ),
    ]
    for d in defs:
        d.fields = _system_fields() + d.fields
        d.reindex()
    return {d.name: d for d in defs}


def _field_from_spec(obj_name: str, spec: dict[str, Any]) -> FieldDef:
    try:
        name = spec["fieldName"]
    except KeyError:
        raise ObjectsFileError(f"{obj_name}: a field has no fieldName") from None
    dtype = str(spec.get("dataType", "STRING")).upper()
    if dtype not in DATA_TYPES:
        raise ObjectsFileError(f"{obj_name}.{name}: unknown dataType {dtype!r}")
    if name in SYSTEM_FIELDS:
        raise ObjectsFileError(f"{obj_name}.{name}: system fields cannot be redefined")
    meta = spec.get("meta") or {}
    lookup = None
    if dtype == "LOOKUP":
        objs = ((meta.get("lookupDetail") or {}).get("lookupObjects")) or []
        if not objs:
            raise ObjectsFileError(f"{obj_name}.{name}: a LOOKUP needs meta.lookupDetail")
        lookup = objs[0]["objectName"]
    f = FieldDef(
        name,
        dtype,
        spec.get("label") or name,
        length=meta.get("length"),
        decimal_places=meta.get("decimalPlaces"),
        required=bool(meta.get("required", False)),
        nillable=bool(meta.get("nillable", True)),
        createable=bool(meta.get("createable", True)),
        updateable=bool(meta.get("updateable", True)),
        lookup_object=lookup,
    )
    if dtype in ("PICKLIST", "MULTISELECTDROPDOWNLIST"):
        f.set_options(obj_name, spec.get("options") or meta.get("options") or [])
    return f


def _generated_prefix(name: str, taken: set[str]) -> str:
    n = int(hashlib.sha1(name.encode()).hexdigest(), 16)
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    while True:
        prefix = "1C" + alphabet[n % 36] + alphabet[(n // 36) % 36]
        if prefix not in taken:
            return prefix
        n += 1


def load_objects_file(path: str | Path, objects: dict[str, ObjectDef]) -> None:
    """Add custom objects and extra fields from a YAML or JSON file (describe's shape)."""
    text = Path(path).read_text()
    if str(path).endswith(".json"):
        doc = json.loads(text)
    else:
        import yaml

        doc = yaml.safe_load(text)
    apply_objects(doc, objects)


def apply_objects(doc: Any, objects: dict[str, ObjectDef]) -> None:
    """Merge an ``{"objects": [...]}`` document into ``objects``."""
    items = doc.get("objects") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise ObjectsFileError("the objects file must hold a list under 'objects'")
    for spec in items:
        name = spec.get("objectName") if isinstance(spec, dict) else None
        if not name:
            raise ObjectsFileError("every object needs an objectName")
        existing = objects.get(name)
        if existing is None:
            if not name.endswith("__gc"):
                raise ObjectsFileError(f"{name}: custom object names must end in __gc")
            taken = {o.key_prefix for o in objects.values()}
            prefix = spec.get("keyPrefix") or _generated_prefix(name, taken)
            existing = ObjectDef(
                name, prefix, spec.get("label") or "", "CUSTOM", fields=_system_fields()
            )
            objects[name] = existing
        for fspec in spec.get("fields") or []:
            existing.add_field(_field_from_spec(name, fspec))
    for obj in objects.values():
        for f in obj.fields:
            if f.lookup_object and f.lookup_object not in objects:
                raise ObjectsFileError(
                    f"{obj.name}.{f.name}: lookup to unknown object {f.lookup_object}"
                )
