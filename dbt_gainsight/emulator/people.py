"""People API: create or update one Person by Email, with its Company/Relationship Person links.

PUT /v1/peoplemgmt/v1.0/people takes the bare person; ``companies`` and ``relationships``
create or update Company_Person / Relationship_Person records (merged by Company_ID /
Relationship_ID). Every referenced company or relationship must exist, else the whole call
fails with GSOBJ_PEOPLE1001 and nothing is written. The async form takes up to 50 people and
processes each on its own, reporting per-index errors under a statusId.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from dbt_gainsight.emulator.store import Store
from dbt_gainsight.emulator.validation import ApiError
from dbt_gainsight.emulator.writes import RejectCheck, convert_record

MAX_ASYNC = 50
_LINKS = (
    ("companies", "Company_ID", "Company", "Company_Person"),
    ("relationships", "Relationship_ID", "Relationship", "Relationship_Person"),
)


def _people_error(err: ApiError) -> ApiError:
    """Map a data-objects code to the People API's GSOBJ_VDT* family."""
    code = err.code or ""
    if code.startswith("GSOBJ_") and code[6:].isdigit():
        return ApiError("GSOBJ_VDT" + code[6:], err.desc, err.status)
    return err


def _prepare(store: Store, person: Any, reject: RejectCheck) -> dict[str, Any]:
    """Validate one person and its links; nothing is written here."""
    if not isinstance(person, dict):
        raise ApiError("GSOBJ_VDT1002", "The person must be a JSON object")
    email = person.get("Email")
    if not isinstance(email, str) or not email.strip():
        raise ApiError("GSOBJ_VQP1001", "Email is required and cannot be empty")
    reject(person)
    fields = {k: v for k, v in person.items() if k not in ("companies", "relationships")}
    obj = store.objects["Person"]
    try:
        person_changes = convert_record(store, obj, fields, [], creating=True)
    except ApiError as err:
        raise _people_error(err) from None
    links = []
    for key, id_field, target, link_obj_name in _LINKS:
        items = person.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            raise ApiError("GSOBJ_VDT1002", f"'{key}' must be a list")
        link_obj = store.objects[link_obj_name]
        for item in items:
            if not isinstance(item, dict):
                raise ApiError("GSOBJ_VDT1002", f"Every entry of '{key}' must be a JSON object")
            gsid = item.get(id_field)
            if not store.exists(target, gsid):
                raise ApiError("GSOBJ_PEOPLE1001", "People entities do not exist")
            reject(item)
            values = {k: v for k, v in item.items() if k != "Person_ID"}
            if link_obj_name == "Relationship_Person":
                rel = store.table("Relationship")
                seq = rel.seq_of(gsid)
                company_slot = store.objects["Relationship"].by_name["CompanyId"].slot
                values.setdefault("Company_ID", rel.get(seq, company_slot))  # type: ignore[arg-type]
            try:
                changes = convert_record(store, link_obj, values, [], creating=True)
            except ApiError as err:
                raise _people_error(err) from None
            links.append((link_obj_name, id_field, changes))
    return {"email": email, "person": person_changes, "links": links}


def _apply(store: Store, plan: dict[str, Any]) -> tuple[str, str, int]:
    """Write a validated person; returns (Gsid, CREATED|UPDATED, records written)."""
    now = store.now_ms()
    people = store.table("Person")
    email_field = store.objects["Person"].by_name["Email"]
    matches = people.find_eq(email_field, plan["email"])
    if matches:
        seq = matches[0]
        store.update_values("Person", seq, plan["person"], now)
        gsid, action = people.gsid(seq), "UPDATED"
    else:
        values: list[Any] = [None] * people.obj.width
        for slot, v in plan["person"].items():
            values[slot] = v
        gsid = store.insert_many("Person", [values], now)[0]
        action = "CREATED"
    written = 1
    for link_obj_name, id_field, changes in plan["links"]:
        link_obj = store.objects[link_obj_name]
        table = store.table(link_obj_name)
        pid = link_obj.by_name["Person_ID"]
        idf = link_obj.by_name[id_field]
        changes = {**changes, pid.slot: gsid}
        existing = [
            s for s in table.find_eq(pid, gsid) if table.get(s, idf.slot) == changes[idf.slot]
        ]
        if existing:
            for s in existing:
                store.update_values(link_obj_name, s, changes, now)
        else:
            values = [None] * link_obj.width
            for slot, v in changes.items():
                values[slot] = v
            store.insert_many(link_obj_name, [values], now)
        written += 1
    return gsid, action, written


def upsert_person(store: Store, body: Any, reject: RejectCheck) -> tuple[dict[str, Any], int]:
    """PUT /v1/peoplemgmt/v1.0/people."""
    with store.lock:
        plan = _prepare(store, body, reject)
        gsid, action, written = _apply(store, plan)
        store.flush()
    return {"Gsid": gsid, "action": action}, written


class AsyncJobs:
    """Async people jobs by statusId: processed at once, or after ``pending`` seconds."""

    def __init__(self, on_written: Callable[[int], None] = lambda n: None) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self._on_written = on_written
        self._timers: list[threading.Timer] = []
        self._lock = threading.Lock()

    def submit(
        self, store: Store, body: Any, reject: RejectCheck, pending: float = 0.0
    ) -> tuple[dict[str, Any], int]:
        """PUT /v1/peoplemgmt/v1.0/people/async: 1..50 people, each applied on its own.

        With ``pending`` > 0 (the people_pending fault) the job reports PENDING and is
        processed that many seconds later, in the background.
        """
        if not isinstance(body, list) or not 1 <= len(body) <= MAX_ASYNC:
            n = len(body) if isinstance(body, list) else "no"
            raise ApiError(
                "GSOBJ_VDT1002", f"The async people call takes a list of 1 to {MAX_ASYNC}; got {n}"
            )
        status_id = str(uuid.uuid4())
        if pending <= 0:
            return {"statusId": status_id}, self._process(store, body, reject, status_id)
        with self._lock:
            self.jobs[status_id] = _job(status_id, "PENDING", len(body), [], done=False)
            timer = threading.Timer(pending, self._finish_later, (store, body, reject, status_id))
            timer.daemon = True
            self._timers.append(timer)
        timer.start()
        return {"statusId": status_id}, 0

    def _finish_later(self, store: Store, body: list[Any], reject: RejectCheck, sid: str) -> None:
        with self._lock:
            if sid not in self.jobs:  # reset meanwhile
                return
        self._on_written(self._process(store, body, reject, sid))

    def _process(self, store: Store, body: list[Any], reject: RejectCheck, sid: str) -> int:
        errors = []
        written = 0
        with store.lock:
            for i, person in enumerate(body):
                try:
                    plan = _prepare(store, person, reject)
                    written += _apply(store, plan)[2]
                except ApiError as err:
                    errors.append({"index": i, "errorCode": err.code, "errorDesc": err.desc})
            store.flush()
        with self._lock:
            self.jobs[sid] = _job(sid, "COMPLETED", len(body), errors, done=True)
        return written

    def status(self, status_id: str) -> dict[str, Any]:
        """GET /v1/peoplemgmt/v1.0/people/async/{statusId}."""
        with self._lock:
            job = self.jobs.get(status_id)
        if job is None:
            raise ApiError("GSOBJ_1004", f"No async job with statusId {status_id}", status=404)
        return job

    def clear(self) -> None:
        """Forget every job and cancel the pending ones (reset, stop)."""
        with self._lock:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
            self.jobs.clear()


def _job(sid: str, status: str, total: int, errors: list[Any], *, done: bool) -> dict[str, Any]:
    failed = len(errors)
    return {
        "statusId": sid,
        "status": status,
        "total": total,
        "success": total - failed if done else 0,
        "failed": failed,
        "errors": errors,
    }
