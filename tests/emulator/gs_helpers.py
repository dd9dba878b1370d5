"""Helpers shared by the emulator tests: a client that talks like the real one, envelope checks."""

from __future__ import annotations

from typing import Any

import requests

from dbt_gainsight.emulator import Emulator

KEY = "test-key"


class Api:
    """A thin requests client that speaks to one emulator the way the real client must."""

    def __init__(self, gs: Emulator, key: str | None = KEY):
        self.gs = gs
        self.s = requests.Session()
        self.s.headers.update({"Content-Type": "application/json", "Accept": "application/json"})
        if key is not None:
            self.s.headers["accesskey"] = key

    def call(self, method: str, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.s.request(method, self.gs.url + path, json=body, timeout=10, **kw)

    def insert(self, obj: str, records: list[dict], **extra: Any) -> requests.Response:
        return self.call("POST", f"/v1/data/objects/{obj}", {"records": records, **extra})

    def update(self, obj: str, keys: str, records: list[dict], **extra: Any) -> requests.Response:
        return self.call(
            "PUT", f"/v1/data/objects/{obj}?keys={keys}", {"records": records, **extra}
        )

    def query(self, obj: str, **body: Any) -> requests.Response:
        return self.call("POST", f"/v1/data/objects/query/{obj}", body)


ENVELOPE_KEYS = {"result", "errorCode", "errorDesc", "requestId", "data", "message"}


def assert_error(resp: requests.Response, status: int, code: str | None) -> dict:
    body = resp.json()
    assert resp.status_code == status, resp.text
    assert set(body) == ENVELOPE_KEYS
    assert body["result"] is False
    assert body["errorCode"] == code, body
    assert body["errorDesc"]
    return body


def assert_ok(resp: requests.Response) -> Any:
    body = resp.json()
    assert resp.status_code == 200, resp.text
    assert set(body) == ENVELOPE_KEYS
    assert body["result"] is True, body
    assert body["errorCode"] is None
    return body["data"]
