"""Data-object writes: one job per call of up to 50 records, with one result per record.

Gainsight validates a write as a whole, so one bad record fails the call: the job halves the
records until each bad one stands alone (a record that cannot even be encoded as JSON is
isolated the same way). Whatever Gainsight accepted before a failure part-way stays ACCEPTED.

A write whose outcome is unknown (no reply, or a reply that says the server broke while on it):

- PUT: FAILED. The keys exist whether or not the update landed, so an existence check proves
  nothing; the records are sent again next run (an update is idempotent).
- POST: the keys are queried once, at once. Records found are ACCEPTED with their Gsid (they
  exist, so the insert landed). The others are FAILED and never POSTed again in this run,
  because Gainsight has no idempotency key and may still apply the first POST later (a slow
  write after a timeout); the next run's existence check sees it and updates instead of
  creating a second record. Waiting "long enough" and checking again would only narrow that
  race, so we chose certainty over a faster retry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from dbt_gainsight.errors import AuthError, GainsightAPIError, OutcomeUnknown, RecordRejected
from dbt_gainsight.gainsight.limits import MAX_BATCH, MAX_KEY_FIELDS
from dbt_gainsight.gainsight.payloads import dumps
from dbt_gainsight.gainsight.query import find_gsids
from dbt_gainsight.gainsight.responses import (
    AllAccepted,
    RecordResult,
    RecordStatus,
    rejected,
    write_results,
)
from dbt_gainsight.gainsight.transport import Transport


def write(
    transport: Transport,
    method: str,
    object_name: str,
    records: list[dict[str, Any]],
    keys: Sequence[str],
    lookups: dict[str, Any] | None,
    field_types: Mapping[str, str] | None = None,
) -> Sequence[RecordResult]:
    """POST (insert) or PUT (update by ``keys``) up to MAX_BATCH records; one result each.

    Raises only AuthError and SyncInterrupted; every other failure is a FAILED result.
    """
    if len(records) > MAX_BATCH:
        raise ValueError(f"a write takes at most {MAX_BATCH} records, got {len(records)}")
    if method == "PUT" and not 1 <= len(keys) <= MAX_KEY_FIELDS:
        raise ValueError(f"update needs 1 to {MAX_KEY_FIELDS} key fields")
    if not records:
        return []
    job = WriteJob(transport, method, object_name, records, tuple(keys), lookups, field_types)
    job.send(list(range(len(records))))
    if isinstance(job.results, AllAccepted):
        return job.results
    return [r or RecordResult(RecordStatus.FAILED, None, None, "not sent") for r in job.results]


class WriteJob:
    """One write call's inputs and per-record results while it is split and reconciled."""

    def __init__(
        self,
        transport: Transport,
        method: str,
        object_name: str,
        records: list[dict[str, Any]],
        keys: tuple[str, ...],
        lookups: dict[str, Any] | None,
        field_types: Mapping[str, str] | None,
    ) -> None:
        self.transport = transport
        self.method = method
        self.object_name = object_name
        self.records = records
        self.keys = keys
        self.lookups = lookups
        self.field_types = field_types
        self.path = f"/v1/data/objects/{quote(object_name, safe='')}"
        if method == "PUT":
            self.path += "?keys=" + ",".join(quote(k, safe="") for k in keys)
        self.results: list[RecordResult | None] | AllAccepted = [None] * len(records)

    def send(self, idx: list[int]) -> None:
        """Send the records at ``idx``; fill their results."""
        body: dict[str, Any] = {"records": [self.records[i] for i in idx]}
        if self.lookups:
            body["lookups"] = self.lookups
        try:
            payload = dumps(body)
        except (TypeError, ValueError) as exc:
            if len(idx) == 1:
                self._fail(idx, f"the record cannot be encoded as JSON: {exc}")
            else:
                self._halves(idx, count=False)
            return
        try:
            envelope = self.transport.call(
                self.method,
                self.path,
                payload,
                idempotent=self.method == "PUT",
                records=len(idx),
                obj=self.object_name,
            )
        except AuthError:
            raise
        except OutcomeUnknown as exc:
            if self.method == "POST":
                self._reconcile(idx, exc)
            else:
                self._fail(idx, f"{exc}; the update may not have landed: sent again next run")
            return
        except RecordRejected as exc:
            if len(idx) == 1:
                self.results[idx[0]] = rejected(exc)
            else:  # validated as a whole: halve until the bad record(s) stand alone
                self._halves(idx, count=True)
            return
        except GainsightAPIError as exc:
            self._fail(idx, str(exc), exc.error_code)
            return
        results = write_results(envelope.get("data"), len(idx))
        if isinstance(results, AllAccepted) and len(idx) == len(self.records):
            self.results = results  # the whole call, accepted at once: kept as it came
            return
        for i, result in zip(idx, results, strict=True):
            self.results[i] = result

    def _halves(self, idx: list[int], *, count: bool) -> None:
        if count:
            self.transport.stats.add("split_calls")
        middle = len(idx) // 2
        self.send(idx[:middle])
        self.send(idx[middle:])

    def _fail(self, idx: list[int], message: str, code: str | None = None) -> None:
        for i in idx:
            self.results[i] = RecordResult(RecordStatus.FAILED, None, code, message)

    def _reconcile(self, idx: list[int], exc: OutcomeUnknown) -> None:
        """After an insert with no answer: what exists landed; the rest is FAILED, not resent."""
        why = f"{exc}; not sent again in this run (a duplicate could follow): next run checks"
        if not self.keys:
            self._fail(idx, f"{why} nothing (no keys to check)")
            return
        tuples = [tuple(self.records[i].get(k) for k in self.keys) for i in idx]
        try:
            found = find_gsids(
                self.transport, self.object_name, self.keys, tuples, self.field_types
            )
        except AuthError:
            raise
        except GainsightAPIError:
            found = {}
        for i, key in zip(idx, tuples, strict=True):
            gsid = found.get(key)
            if gsid:
                self.results[i] = RecordResult(RecordStatus.ACCEPTED, gsid)
            else:
                self._fail([i], f"{why} whether it landed")
