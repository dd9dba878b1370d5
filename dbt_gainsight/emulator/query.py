"""The read API: POST /v1/data/objects/query/{Object}.

Supports select (plain fields and lookup paths such as ``Csm__gr.Email``), where conditions
with aliases combined by an expression (AND, OR, parentheses), orderBy, limit and offset.
EQ/IN on a plain field, alone or ANDed, is answered from the field's hash index.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any

from dbt_gainsight.emulator.objects import FieldDef, ObjectDef
from dbt_gainsight.emulator.store import Store, Table, _index_key
from dbt_gainsight.emulator.validation import ApiError, condition_value, query_value

MAX_LIMIT = 5000
DEFAULT_LIMIT = 100
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

Getter = Callable[[int], Any]
Pred = Callable[[int], bool]


def field_getter(store: Store, obj: ObjectDef, path: str) -> tuple[FieldDef, Getter]:
    """Resolve ``Field`` or ``Lookup__gr.Field`` to (final field, row number -> stored value)."""
    parts = path.split(".")
    table = store.table(obj.name)
    getters: list[tuple[Table, FieldDef]] = []
    cur = obj
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        name = part if last else (part[:-4] if part.endswith("__gr") else part)
        f = cur.by_name.get(name)
        if f is None and not last and part.endswith("__gr"):
            f = cur.by_name.get(name + "__gc")
        if f is None or (not last and not f.lookup_object):
            raise ApiError("GSOBJ_1002", f"Field {path} does not exist on object {obj.name}")
        getters.append((store.table(cur.name), f))
        if not last:
            cur = store.objects[f.lookup_object]  # type: ignore[index]
    final = getters[-1][1]
    if len(getters) == 1:
        slot = final.slot
        return final, (lambda seq: table.get(seq, slot))

    def get(seq: int) -> Any:
        value: Any = seq
        for j, (t, f) in enumerate(getters):
            if j:
                value = t.seq_of(value)
                if value is None:
                    return None
            value = t.get(value, f.slot)
            if value is None:
                return None
        return value

    return final, get


def _compare(op: str, values: list[Any], get: Getter, f: FieldDef) -> Pred:
    if op == "IS_NULL":
        return lambda s: get(s) is None
    if op == "IS_NOT_NULL":
        return lambda s: get(s) is not None
    if op in ("EQ", "IN", "NE"):
        wanted = {_index_key(f, v) for v in values}
        if op == "NE":
            return lambda s: (v := get(s)) is not None and _index_key(f, v) not in wanted
        return lambda s: (v := get(s)) is not None and _index_key(f, v) in wanted
    if op in ("CONTAINS", "STARTS_WITH", "ENDS_WITH"):
        needles = [str(v).lower() for v in values]
        test = {
            "CONTAINS": lambda h, n: n in h,
            "STARTS_WITH": lambda h, n: h.startswith(n),
            "ENDS_WITH": lambda h, n: h.endswith(n),
        }[op]

        def text(s: int) -> bool:
            v = get(s)
            if v is None:
                return False
            h = str(v).lower()
            return any(test(h, n) for n in needles)

        return text
    if not values:
        raise ApiError("GSOBJ_1002", f"Operator {op} on {f.name} needs a value")
    if op == "BTW":
        if len(values) != 2:
            raise ApiError("GSOBJ_1002", f"Operator BTW on {f.name} needs two values")
        lo, hi = values

        def between(s: int) -> bool:
            v = get(s)
            try:
                return v is not None and lo <= v <= hi
            except TypeError:
                return False

        return between
    ref = values[0]
    cmp = {
        "GT": lambda v: v > ref,
        "GTE": lambda v: v >= ref,
        "LT": lambda v: v < ref,
        "LTE": lambda v: v <= ref,
    }[op]

    def compare(s: int) -> bool:
        v = get(s)
        try:
            return v is not None and cmp(v)
        except TypeError:
            return False

    return compare


class Condition:
    """One where condition, compiled to a predicate over row numbers."""

    def __init__(self, store: Store, obj: ObjectDef, spec: Any):
        if not isinstance(spec, dict):
            raise ApiError("GSOBJ_1002", "Every where condition must be a JSON object")
        name = spec.get("name") or spec.get("fieldName")
        if not isinstance(name, str):
            raise ApiError("GSOBJ_1002", "A where condition needs a field 'name'")
        op = str(spec.get("operator", "")).upper()
        if op not in OPERATORS:
            raise ApiError("GSOBJ_1002", f"Unknown operator {spec.get('operator')!r} on {name}")
        values = spec.get("value", [] if op in ("IS_NULL", "IS_NOT_NULL") else None)
        if not isinstance(values, list):
            raise ApiError("GSOBJ_1002", f"The value of the condition on {name} must be a list")
        f, get = field_getter(store, obj, name)
        self.alias = spec.get("alias")
        self.op = op
        self.field = f
        self.plain = "." not in name
        self.values = (
            [condition_value(f, v) for v in values]
            if op
            not in (
                "CONTAINS",
                "STARTS_WITH",
                "ENDS_WITH",
            )
            else [v for v in values if v is not None]
        )
        self.pred = _compare(op, self.values, get, f)


_TOKEN = re.compile(r"\s*(\(|\)|[A-Za-z_][A-Za-z0-9_]*)")


def _parse_expression(expr: str, by_alias: dict[str, Condition]) -> Any:
    """Parse ``A AND (B OR C)`` into nested ("AND"|"OR", [...]) tuples of Conditions."""
    tokens: list[str] = []
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:
            raise ApiError("GSOBJ_1002", f"Invalid where expression {expr!r}")
        tokens.append(m.group(1))
        pos = m.end()
        while pos < len(expr) and expr[pos].isspace():
            pos += 1
    i = 0

    def peek() -> str | None:
        return tokens[i] if i < len(tokens) else None

    def parse_or() -> Any:
        nonlocal i
        items = [parse_and()]
        while (peek() or "").upper() == "OR":
            i += 1
            items.append(parse_and())
        return items[0] if len(items) == 1 else ("OR", items)

    def parse_and() -> Any:
        nonlocal i
        items = [parse_atom()]
        while (peek() or "").upper() == "AND":
            i += 1
            items.append(parse_atom())
        return items[0] if len(items) == 1 else ("AND", items)

    def parse_atom() -> Any:
        nonlocal i
        tok = peek()
        if tok == "(":
            i += 1
            node = parse_or()
            if peek() != ")":
                raise ApiError("GSOBJ_1002", f"Unbalanced parentheses in {expr!r}")
            i += 1
            return node
        if tok is None or tok in (")",) or tok.upper() in ("AND", "OR"):
            raise ApiError("GSOBJ_1002", f"Invalid where expression {expr!r}")
        i += 1
        cond = by_alias.get(tok)
        if cond is None:
            raise ApiError("GSOBJ_1002", f"Unknown alias {tok!r} in where expression")
        return cond

    node = parse_or()
    if i != len(tokens):
        raise ApiError("GSOBJ_1002", f"Invalid where expression {expr!r}")
    return node


def _compile(node: Any) -> Pred:
    if isinstance(node, Condition):
        return node.pred
    kind, items = node
    preds = [_compile(n) for n in items]
    if kind == "AND":
        return lambda s: all(p(s) for p in preds)
    return lambda s: any(p(s) for p in preds)


def _candidates(node: Any, table: Table) -> list[int] | None:
    """Row numbers from an index when an EQ/IN on a plain field narrows the search."""
    conds = [node] if isinstance(node, Condition) else (node[1] if node[0] == "AND" else [])
    for c in conds:
        if isinstance(c, Condition) and c.plain and c.op in ("EQ", "IN"):
            seqs: set[int] = set()
            for v in c.values:
                seqs.update(table.find_eq(c.field, v))
            return sorted(seqs)
    return None


def _int_param(body: dict[str, Any], name: str, default: int) -> int:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError("GSOBJ_1002", f"'{name}' must be an integer")
    return value


def run_query(store: Store, obj: ObjectDef, body: Any) -> list[dict[str, Any]]:
    """Execute a read; returns the rows in the API's value forms."""
    if not isinstance(body, dict):
        raise ApiError("GSOBJ_1002", "The query body must be a JSON object")
    limit = _int_param(body, "limit", DEFAULT_LIMIT)
    offset = _int_param(body, "offset", 0)
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError("GSOBJ_1002", f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    if offset < 0:
        raise ApiError("GSOBJ_1002", f"offset must be 0 or more, got {offset}")
    select = body.get("select")
    if select is None or select == []:
        select = [f.name for f in obj.fields]
    if not isinstance(select, list) or not all(isinstance(s, str) for s in select):
        raise ApiError("GSOBJ_1002", "'select' must be a list of field names")
    with store.lock:
        table = store.table(obj.name)
        columns = [(name, *field_getter(store, obj, name)) for name in select]
        node = _where(store, obj, body.get("where"))
        order = _order(store, obj, body.get("orderBy"))
        seqs: Iterable[int]
        if node is None:
            seqs = table.scan()
        else:
            pred = _compile(node)
            cands = _candidates(node, table)
            seqs = (s for s in (table.scan() if cands is None else cands) if pred(s))
        if order:
            ordered = list(seqs)
            for get, desc in reversed(order):
                ordered.sort(key=lambda s, g=get, d=desc: _sort_key(g(s), d), reverse=desc)
            page: Iterable[int] = ordered[offset : offset + limit]
        else:
            page = islice(seqs, offset, offset + limit)
        return [{name: query_value(f, get(s)) for name, f, get in columns} for s in page]


def _sort_key(v: Any, desc: bool) -> tuple[int, Any]:
    """Nulls last in both directions; text ignores case."""
    if v is None:
        return (0 if desc else 1, 0)
    if isinstance(v, str):
        v = v.lower()
    return (1 if desc else 0, v)


def _where(store: Store, obj: ObjectDef, where: Any) -> Any:
    if where in (None, {}):
        return None
    if not isinstance(where, dict):
        raise ApiError("GSOBJ_1002", "'where' must be a JSON object")
    specs = where.get("conditions") or []
    if not isinstance(specs, list):
        raise ApiError("GSOBJ_1002", "'where.conditions' must be a list")
    conds = [Condition(store, obj, s) for s in specs]
    if not conds:
        return None
    by_alias = {c.alias: c for c in conds if c.alias}
    expr = where.get("expression")
    if expr:
        if not isinstance(expr, str):
            raise ApiError("GSOBJ_1002", "'where.expression' must be a string")
        return _parse_expression(expr, by_alias)
    return conds[0] if len(conds) == 1 else ("AND", conds)


def _order(store: Store, obj: ObjectDef, order_by: Any) -> list[tuple[Getter, bool]]:
    if not order_by:
        return []
    if not isinstance(order_by, dict):
        raise ApiError("GSOBJ_1002", "'orderBy' must map field names to asc or desc")
    out = []
    for name, direction in order_by.items():
        d = str(direction).lower()
        if d not in ("asc", "desc"):
            raise ApiError("GSOBJ_1002", f"orderBy {name}: direction must be asc or desc")
        _, get = field_getter(store, obj, name)
        out.append((get, d == "desc"))
    return out
