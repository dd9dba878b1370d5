"""Data-object writes: one job per call of up to 50 records, split when Gainsight refuses it.

Gainsight validates a write as a whole, so one bad record fails the call: the job halves the
records until each bad one stands alone. An insert whose reply was lost is reconciled by
asking which of its keys exist, since Gainsight has no idempotency key.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from dbt_gainsight.errors import OutcomeUnknown, RecordRejected
from dbt_gainsight.gainsight.limits import MAX_BATCH, MAX_KEY_FIELDS
from dbt_gainsight.gainsight.query import find_gsids
from dbt_gainsight.gainsight.responses import (
    RecordResult,
    RecordStatus,
    rejected,
    write_results,
)
from dbt_gainsight.gainsight.retry import backoff_delays
from dbt_gainsight.gainsight.transport import Transport

log = logging.getLogger(__name__)


def write(
    transport: Transport,
    method: str,
    object_name: str,
    records: list[dict[str, Any]],
    keys: Sequence[str],
    lookups: dict[str, Any] | None,
) -> list[RecordResult]:
    """POST (insert) or PUT (update by ``keys``) up to MAX_BATCH records; one result each."""
    if len(records) > MAX_BATCH:
        raise ValueError(f"a write takes at most {MAX_BATCH} records, got {len(records)}")
    if method == "PUT" and not 1 <= len(keys) <= MAX_KEY_FIELDS:
        raise ValueError(f"update needs 1 to {MAX_KEY_FIELDS} key fields")
    if not records:
        return []
    job = WriteJob(transport, method, object_name, records, tuple(keys), lookups)
    job.send(list(range(len(records))))
    return [r if r is not None else RecordResult(RecordStatus.FAILED) for r in job.results]


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
    ) -> None:
        self.transport = transport
        self.method = method
        self.object_name = object_name
        self.records = records
        self.keys = keys
        self.lookups = lookups
        self.path = f"/v1/data/objects/{quote(object_name, safe='')}"
        if method == "PUT":
            self.path += "?keys=" + ",".join(quote(k, safe="") for k in keys)
        self.results: list[RecordResult | None] = [None] * len(records)
        # One backoff budget shared by every lost reply of this write.
        self._unknown_delays = backoff_delays(transport.retry, transport.rng)

    def send(self, idx: list[int]) -> None:
        """Send the records at ``idx``; fill their results."""
        body: dict[str, Any] = {"records": [self.records[i] for i in idx]}
        if self.lookups:
            body["lookups"] = self.lookups
        try:
            envelope = self.transport.call(
                self.method,
                self.path,
                body,
                idempotent=self.method == "PUT",
                records=len(idx),
                obj=self.object_name,
            )
        except OutcomeUnknown:
            pending = self._reconcile(idx)
            if pending:
                self.send(pending)
            return
        except RecordRejected as exc:
            if len(idx) == 1:
                self.results[idx[0]] = rejected(exc)
                return
            # Validated as a whole: halve until the bad record(s) stand alone.
            self.transport.stats.add("split_calls")
            middle = len(idx) // 2
            self.send(idx[:middle])
            self.send(idx[middle:])
            return
        for i, result in zip(idx, write_results(envelope.get("data"), len(idx)), strict=True):
            self.results[i] = result

    def _reconcile(self, idx: list[int]) -> list[int]:
        """After a write with no answer: mark the records that exist, return the rest."""
        if not self.keys:
            raise OutcomeUnknown(
                f"an insert into {self.object_name} got no reply and has no keys to check;"
                " it was not retried to avoid duplicates"
            )
        delay = next(self._unknown_delays, None)
        if delay is None:
            raise OutcomeUnknown(
                f"inserts into {self.object_name} kept getting no reply; gave up after"
                f" {self.transport.retry.max_attempts} attempts"
            )
        self.transport.stats.add("retries")
        log.info("insert into %s got no reply; checking its keys in %.1fs", self.object_name, delay)
        self.transport.pause(delay)
        tuples = [tuple(self.records[i].get(k) for k in self.keys) for i in idx]
        found = find_gsids(self.transport, self.object_name, self.keys, tuples)
        pending = []
        for i, key in zip(idx, tuples, strict=True):
            gsid = found.get(key) if all(v is not None for v in key) else None
            if gsid:
                self.results[i] = RecordResult(RecordStatus.ACCEPTED, gsid)
            else:
                pending.append(i)
        return pending
