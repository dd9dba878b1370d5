"""manifest_metadata: dbt's version and invocation from the head of manifest.json."""

from __future__ import annotations

import json

import pytest

from dbt_gainsight.dbt_files import MANIFEST_HEAD_BYTES, manifest_metadata

METADATA = {"dbt_version": "1.11.2", "invocation_id": "abc", "env": {"DBT_ENV_CUSTOM_ENV_X": "é"}}


def test_the_metadata_is_read_from_the_head_alone(tmp_path):
    """What follows the head is never parsed: a manifest cut short after it still answers
    (reading it whole would raise), as a manifest of tens of MB is not loaded."""
    path = tmp_path / "manifest.json"
    tail = '"nodes": {"model.p.a": ' + "[" * MANIFEST_HEAD_BYTES  # not JSON
    path.write_text('{"metadata": ' + json.dumps(METADATA) + ", " + tail)
    assert manifest_metadata(path) == METADATA


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"nodes": {"a": 1}, "metadata": METADATA}),  # not the first key
        json.dumps({"metadata": {**METADATA, "pad": "x" * MANIFEST_HEAD_BYTES}}),  # longer
        json.dumps({"metadata": METADATA}, indent=2),  # laid out
    ],
    ids=["not-first", "longer-than-the-head", "indented"],
)
def test_a_manifest_laid_out_otherwise_is_read_whole(tmp_path, text):
    path = tmp_path / "manifest.json"
    path.write_text(text)
    assert manifest_metadata(path)["dbt_version"] == "1.11.2"


@pytest.mark.parametrize("text", ['{"metadata": [1]}', '{"nodes": {}}', "not json"])
def test_a_manifest_without_a_metadata_object_raises(tmp_path, text):
    path = tmp_path / "manifest.json"
    path.write_text(text)
    with pytest.raises((ValueError, KeyError)):
        manifest_metadata(path)
