"""What each Gainsight reply means: pure tests of gainsight/responses.py, no server."""

from __future__ import annotations

import json
from email.utils import formatdate

import pytest
from urllib3 import HTTPHeaderDict

from dbt_gainsight.errors import (
    AuthError,
    ConnectionFailed,
    GainsightAPIError,
    NoDataFound,
    OutcomeUnknown,
    RateLimited,
    RecordRejected,
    RetryableError,
    ServerError,
    UnknownObject,
)
from dbt_gainsight.gainsight.responses import (
    RecordResult,
    RecordStatus,
    classify_response,
    describe_entry,
    means_no_rows,
    people_results,
    rejected,
    rows_of,
    unknown_object,
    write_results,
)
from dbt_gainsight.gainsight.sessions import Reply

ACCEPTED, REJECTED, NOT_FOUND = RecordStatus.ACCEPTED, RecordStatus.REJECTED, RecordStatus.NOT_FOUND


def reply(status, body, headers=None):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Reply(status, HTTPHeaderDict(headers or {}), content)


def env(result=False, code=None, desc=None, data=None):
    return {
        "result": result,
        "errorCode": code,
        "errorDesc": desc,
        "requestId": "r-1",
        "data": data,
        "message": None,
    }


def classify(response, idempotent=True):
    return classify_response(response, idempotent=idempotent, base_url="https://x.example", now=0)


def test_success_and_no_data_found():
    assert classify(reply(200, env(True, data=[1])))["data"] == [1]
    with pytest.raises(NoDataFound, match="No data found") as exc:
        classify(reply(200, env(False, None, "No data found for given criteria")))
    assert exc.value.error_desc == "No data found for given criteria"
    assert means_no_rows(exc.value)
    assert not means_no_rows(GainsightAPIError("x"))
    with pytest.raises(RecordRejected) as exc:
        classify(reply(400, env(False, "GSOBJ_1011", "No entity matches the given criteria")))
    assert means_no_rows(exc.value)
    assert not means_no_rows(RecordRejected("bad", error_code="GSOBJ_1002"))


@pytest.mark.parametrize(
    ("status", "code"),
    [(401, "GS_APIG_2401"), (403, "GS_APIG_2402"), (400, "GSOBJ_1024"), (401, None)],
)
def test_auth(status, code):
    with pytest.raises(AuthError, match="access key") as exc:
        classify(reply(status, env(False, code, "Unauthorized")))
    assert exc.value.error_code == code and exc.value.request_id == "r-1"


def test_rate_limit_and_server_errors():
    with pytest.raises(RateLimited) as exc:
        classify(reply(429, env(False, "GS_APIG_2404"), {"Retry-After": "12"}))
    assert exc.value.retry_after == 12
    with pytest.raises(RateLimited) as exc:
        classify(
            reply(429, env(False, "GS_APIG_2404"), {"Retry-After": formatdate(30, usegmt=True)})
        )
    assert exc.value.retry_after == pytest.approx(30)
    with pytest.raises(RateLimited) as exc:
        classify(reply(429, env(False, "GS_APIG_2404")))
    assert exc.value.retry_after is None
    with pytest.raises(ServerError):
        classify(reply(503, env(False, None, "Service Unavailable")))
    with pytest.raises(ServerError):
        classify(reply(502, b"<html>Bad gateway</html>"))
    with pytest.raises(OutcomeUnknown):
        classify(reply(500, env(False)), idempotent=False)
    with pytest.raises(ServerError):  # 503: not taken, so even a POST may be resent
        classify(reply(503, b"busy"), idempotent=False)
    with pytest.raises(OutcomeUnknown) as exc:
        classify(reply(502, b"<html>Bad gateway</html>"), idempotent=False)
    # A write that may have happened is never retried by type: the marker says so.
    assert not isinstance(exc.value, RetryableError)


def test_not_gainsight_and_redirects():
    for status in (200, 401, 404):
        with pytest.raises(ConnectionFailed, match="not as Gainsight's API; check GAINSIGHT_URL"):
            classify(reply(status, b"<!DOCTYPE html><html></html>", {"Content-Type": "text/html"}))
    with pytest.raises(ConnectionFailed, match="not as Gainsight's API"):
        classify(reply(200, {"some": "other json"}))
    with pytest.raises(ConnectionFailed, match=r"redirect \(HTTP 301\) to https://acme\.gs\.com/"):
        classify(reply(301, b"", {"Location": "https://acme.gs.com/"}))
    with pytest.raises(ConnectionFailed, match="no such API route"):
        classify(reply(404, env(False, "GS_APIG_1000", "No route")))


def test_rejections_carry_gainsights_text_as_a_field():
    with pytest.raises(RecordRejected) as exc:
        classify(reply(400, env(False, "GSOBJ_1001", "Name too long")), idempotent=False)
    assert exc.value.error_code == "GSOBJ_1001" and str(exc.value) == "Name too long"
    assert exc.value.error_desc == "Name too long"
    assert rejected(exc.value) == RecordResult(REJECTED, None, "GSOBJ_1001", "Name too long")
    with pytest.raises(RecordRejected):
        classify(reply(200, env(False, "GSOBJ_1002", "bad")))
    with pytest.raises(UnknownObject):  # not a record's fault: never split
        classify(reply(400, env(False, "GSOBJ_1023", "Invalid API called")), idempotent=False)
    with pytest.raises(GainsightAPIError, match="HTTP 400") as exc:
        classify(reply(400, env(False, None, None)))
    assert exc.value.error_desc is None


def test_write_results_by_index():
    data = {
        "records": [{"Gsid": "g0"}, {"Gsid": "g2"}],
        "errors": [{"index": 1, "errorCode": "GSOBJ_1011", "errorDesc": "No entity matches"}],
    }
    assert write_results(data, 3) == [
        RecordResult(ACCEPTED, "g0"),
        RecordResult(NOT_FOUND, None, "GSOBJ_1011", "No entity matches"),
        RecordResult(ACCEPTED, "g2"),
    ]
    # One entry per input record, errors included: positions line up.
    full = {"records": [{"Gsid": "a"}, None, "c"], "errors": [{"index": 1, "errorCode": "X"}]}
    assert [(r.status, r.gsid) for r in write_results(full, 3)] == [
        (ACCEPTED, "a"),
        (REJECTED, None),
        (ACCEPTED, "c"),
    ]
    assert write_results(None, 2) == [RecordResult(ACCEPTED), RecordResult(ACCEPTED)]
    ok, missing = write_results(data, 3)[0], write_results(data, 3)[1]
    assert ok.ok and not ok.not_found and missing.not_found and not missing.ok
    # Every record accepted (the common answer): the Gsids, read as results the same way.
    every = write_results({"records": [{"Gsid": "a"}, "b", {"gsid": "c"}]}, 3)
    assert every.gsids == ["a", "b", "c"]
    assert every == [RecordResult(ACCEPTED, g) for g in "abc"]
    assert (len(every), every[-1]) == (3, RecordResult(ACCEPTED, "c"))
    assert every[1:] == [RecordResult(ACCEPTED, "b"), RecordResult(ACCEPTED, "c")]
    assert all(r.ok for r in every) and every != [RecordResult(ACCEPTED, "a")]
    plain = write_results({"records": [{"Gsid": "a", "Name": "x"}, {"Gsid": "b"}]}, 2)
    assert plain.gsids == ["a", "b"]
    odd = write_results({"records": [{"Gsid": 7}, {"Gsid": ""}, {"Gsid": None}]}, 3)
    assert odd.gsids == ["7", None, None]  # text, as the state stores it; empty is none


def test_query_rows_shapes():
    assert rows_of(None) == []
    assert rows_of([{"a": 1}]) == [{"a": 1}]
    assert rows_of({"records": [{"a": 1}]}) == [{"a": 1}]
    assert rows_of({"data": [{"a": 2}]}) == [{"a": 2}]
    with pytest.raises(GainsightAPIError):
        rows_of("nope")


def test_describe_entries_and_unknown_objects():
    data = [{"objectName": "other"}, {"objectName": "company", "fields": []}]
    assert describe_entry(data, "Company")["objectName"] == "company"
    assert describe_entry({"objectName": "X"}, "Y") == {"objectName": "X"}
    with pytest.raises(UnknownObject, match="'Nope__gc'"):
        describe_entry([], "Nope__gc")
    # Variants say "no such object" as 200 result:false or as a 400 with a code.
    for response in (
        reply(200, env(False, None, "Requested object not found.")),
        reply(400, env(False, "GSOBJ_1002", "Requested object not found: Nope__gc")),
    ):
        with pytest.raises(GainsightAPIError) as exc:
            classify(response)
        unknown = unknown_object(exc.value, "Nope__gc")
        assert isinstance(unknown, UnknownObject)
        assert "Gainsight has no object 'Nope__gc'" in str(unknown)


def test_people_job_results():
    done = {"status": "COMPLETED", "errors": [{"index": 1, "errorCode": "GSOBJ_VQP1001"}]}
    assert [r.status for r in people_results(done, 3)] == [ACCEPTED, REJECTED, ACCEPTED]
    failed = {"status": "FAILED", "errorCode": "E", "errorDesc": "boom"}
    assert people_results(failed, 2) == [RecordResult(REJECTED, None, "E", "boom")] * 2
