"""The audit's read-back store: what a dictionary held, kept on disk, and never left behind."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from dbt_gainsight.errors import ReadBackError
from dbt_gainsight.sync import readback
from dbt_gainsight.sync.readback import ReadBack


@pytest.fixture(autouse=True)
def _own_temporary_folder(tmp_path, monkeypatch):
    """Each test its own TMPDIR: another worker's audit may come and go in the shared one."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def _folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("dbt-gainsight-audit-*"))


def test_the_read_back_keeps_what_a_dictionary_kept_and_every_value_exactly():
    odd = ['Zoë; "quoted"\n', 2**63 + 1, 0.1 + 0.2, -0.0, 1e300, True, False, None, ["a", 1]]
    before = _folders()
    with ReadBack() as store:
        assert before == set() and len(_folders()) == 1
        store.add([("G1", ("k1",), ["old"]), ("G2", ("k1",), odd), ("G3", None, [1])])
        store.add([("G1", ("k9",), ["new"])])  # read again (a concurrent write moved it)
        pages = [(f"P{i}", (f"p{i}", "x"), [i]) for i in range(3 * readback.LOOKUP_CHUNK + 7)]
        store.add(pages)

        held = store.values_of(["G1", "G2", "G3", "nope", None])
        assert held == {"G1": ["new"], "G2": odd, "G3": [1]}  # the last read wins
        got = held["G2"]
        assert [type(v) for v in got] == [type(v) for v in odd]  # bool stays bool, int stays int
        assert got[2] == 0.1 + 0.2 and str(got[3]) == "-0.0" and got[1] == 2**63 + 1
        by_key = store.gsids_of([("k1",), ("k9",), ("none",)])
        assert by_key == {("k1",): ["G1", "G2"], ("k9",): ["G1"]}  # in read order

        many = [f"P{i}" for i in range(len(pages))]  # more than one IN list
        assert store.values_of(many) == {f"P{i}": [i] for i in range(len(pages))}
        keys = [(f"p{i}", "x") for i in range(len(pages))]
        assert store.gsids_of(keys) == {k: [f"P{i}"] for i, k in enumerate(keys)}

        store.mark_matched(["G1", "P5"])
        assert store.values_of(["G1", "G2", "P5", "P6"], unmatched=True).keys() == {"G2", "P6"}
        unmatched = dict(store.unmatched())
        assert len(unmatched) == len(pages) - 1 + 2 and unmatched["G2"] == odd

        store.note_gone(["h1", "h2", "h1"])
        assert store.take_gone(["h2", "h3"]) == {"h2"}
        assert store.take_gone(["h1", "h2"]) == {"h1"}  # each given once

        store.note_drifted([("differs", "h2"), ("missing", "h1"), ("differs", "h1")])
        store.note_drifted([("differs", "h2")])  # a second differing field of the same row
        assert list(store.drifted("differs")) == ["h1", "h2"]
        assert list(store.drifted("missing")) == ["h1"] and list(store.drifted("orphan")) == []
    assert _folders() == before  # removed on the way out


def test_the_read_back_is_removed_when_the_audit_fails_midway():
    before = _folders()
    with pytest.raises(KeyboardInterrupt), ReadBack() as store:
        store.add([("G1", ("k",), [1])])
        raise KeyboardInterrupt
    assert _folders() == before


@pytest.mark.parametrize("step", ["remove_stale", "connect"])
def test_a_ctrl_c_while_the_read_back_is_built_leaves_no_folder(monkeypatch, step):
    """The audit is interrupted before ``with`` holds the read-back: in the sweep of what
    killed audits left (it once ran after the folder was made, outside the cleanup) or while
    the file is opened."""

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    where = readback if step == "remove_stale" else readback.sqlite3
    monkeypatch.setattr(where, step, interrupted)
    before = _folders()
    with pytest.raises(KeyboardInterrupt):
        ReadBack()
    assert _folders() == before


def test_a_missing_or_full_temporary_folder_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "gone"))
    with pytest.raises(ReadBackError, match=r"gone .*point TMPDIR at a folder with room"):
        ReadBack()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with ReadBack() as store:
        store._db.execute("pragma max_page_count = 8")  # a disk that fills up
        with pytest.raises(ReadBackError, match="database or disk is full"):
            store.add([(f"G{i}", (f"k{i}",), ["x" * 100]) for i in range(5000)])
    assert list(tmp_path.iterdir()) == []  # and nothing left behind


def test_only_folders_of_audits_killed_on_this_host_an_hour_ago_are_removed(tmp_path):
    """A kill -9 leaves an audit's folder: the next audit removes it once nothing in it has
    changed for an hour and its process is gone, and never a running audit's or another
    host's (a shared TMPDIR)."""
    import os
    import subprocess
    import sys

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    host = readback._owner().rsplit(".", 1)[0]
    now = 1_900_000_000.0

    def left(owner: str, age: float) -> Path:
        folder = tmp_path / f"{readback.PREFIX}{owner}-x1y2"
        folder.mkdir()
        (folder / "records.sqlite").write_bytes(b"records")
        for path in (folder / "records.sqlite", folder):
            os.utime(path, (now - age, now - age))
        return folder

    killed = left(f"{host}.{dead}", 2 * readback.STALE_SECONDS)
    recent = left(f"{host}.{dead}9", readback.STALE_SECONDS / 2)  # its pid is gone too
    running = left(f"{host}.{os.getpid()}", 2 * readback.STALE_SECONDS)
    elsewhere = left(f"otherhost.{dead}", 2 * readback.STALE_SECONDS)
    assert not readback._alive(int(dead)) and not readback._alive(int(dead + "9"))
    assert readback.remove_stale(tmp_path, now=now) == [killed]
    assert sorted(tmp_path.iterdir()) == sorted([recent, running, elsewhere])
