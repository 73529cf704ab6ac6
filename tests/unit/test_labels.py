"""core.labels.store: the append-only label CSV that is the team's eval set.

What users rely on: every saved grade comes back exactly, the latest grade wins while history
stays, undo works, a query never lands in both splits, and the file survives concurrent
annotators, killed processes and damaged lines without losing a confirmed label.
"""

from __future__ import annotations

import csv
import io
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # let `pytest tests/unit` work without installing the project
    sys.path.insert(0, str(ROOT))

from core.labels import csv_store as labels_csv  # noqa: E402
from core.labels import store as labels  # noqa: E402
from core.labels.store import (  # noqa: E402
    COLUMNS,
    GRADES,
    Label,
    LabelError,
    LabelStore,
    _encode_rows,
    export_csv,
    split_of,
)


def lab(doc_id="d1", grade=2, annotator="alice", query="кот в сапогах", **kw) -> Label:
    return Label(annotator=annotator, corpus="memes", query=query, doc_id=doc_id, grade=grade, **kw)


@pytest.fixture
def store(tmp_path) -> LabelStore:
    return LabelStore(tmp_path / "labels" / "labels.csv")


def read_both_ways(store: LabelStore):
    """read(), checked against the line-by-line path that damaged files fall back to."""
    got = store.read()
    with mock.patch.object(labels_csv, "_RECORD_LINE_RE", re.compile(r"(?!)")):  # never "clean"
        slow = LabelStore(store.path).read()
    pd.testing.assert_frame_equal(got.frame, slow.frame)
    assert got.skipped == slow.skipped
    return got


def child_env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


# ------------------------------------------------------------------ basic round trip


def test_missing_file_reads_as_empty(store):
    got = store.read()
    assert list(got.frame.columns) == COLUMNS and got.frame.empty and got.skipped == []
    assert store.latest().empty and store.grades_for("memes", "q", "alice") == {}


def test_append_then_read_round_trip(store):
    stored = store.append(lab(model="e5-small", rank=3, note="funny, but \"old\""))
    assert stored.split == split_of("кот в сапогах")
    assert datetime.fromisoformat(stored.ts).utcoffset().total_seconds() == 0  # UTC ISO time

    got = store.read()
    assert got.skipped == []
    row = got.frame.iloc[0]
    assert Label(**{c: (None if pd.isna(row[c]) else row[c]) for c in COLUMNS}) == stored
    assert str(got.frame["grade"].dtype) == "Int64" and str(got.frame["rank"].dtype) == "Int64"
    first_line = store.path.read_bytes().split(b"\n")[0]
    assert first_line == ",".join(COLUMNS).encode()  # parent dir and header created


def test_invalid_labels_are_refused_with_a_readable_message(store):
    bad = [
        (lab(annotator="  "), "annotator"),
        (lab(doc_id=""), "doc_id"),
        (lab(query=" \n"), "query"),
        (lab(grade=3), "grade"),
        (lab(grade=True), "grade"),
        (lab(rank=-1), "rank"),
        (lab(split="train" if split_of("кот в сапогах") == "eval" else "eval"), "split"),
        (lab(note="\ud800"), "UTF-8"),
    ]
    for label, word in bad:
        with pytest.raises(LabelError, match=word):
            store.append(label)
    with pytest.raises(LabelError):  # a batch is all or nothing
        store.append_many([lab("ok"), lab("bad", grade=5)])
    assert not store.path.exists()


def test_latest_wins_and_history_is_kept(store):
    store.append(lab("d1", 2))
    store.append(lab("d1", 0, note="changed my mind"))
    store.append(lab("d1", 1, annotator="bob"))
    store.append(lab("d2", -1))

    latest = store.latest()
    assert sorted(zip(latest["annotator"], latest["doc_id"], latest["grade"])) == [
        ("alice", "d1", 0), ("alice", "d2", -1), ("bob", "d1", 1)]
    hist = store.history("memes", "кот в сапогах", "d1")
    assert list(zip(hist["annotator"], hist["grade"])) == [("alice", 2), ("alice", 0), ("bob", 1)]
    assert len(store.read().frame) == 4  # nothing rewritten

    assert store.grades_for("memes", "кот в сапогах", "alice") == {
        "d1": {"mine": 0, "others": 1}, "d2": {"mine": -1, "others": 0}}
    assert store.grades_for("memes", "кот в сапогах", "carol") == {
        "d1": {"mine": None, "others": 2}, "d2": {"mine": None, "others": 1}}
    assert store.grades_for("memes", "другой запрос", "alice") == {}


def test_undo_restores_previous_grade_then_retracts(store):
    store.append(lab("d1", 2, rank=1, model="base"))
    store.append(lab("d1", 0, rank=4, model="tuned"))

    restored = store.undo("alice", "memes", "кот в сапогах", "d1")
    assert (restored.grade, restored.rank, restored.model) == (2, 1, "base")
    assert store.grades_for("memes", "кот в сапогах", "alice")["d1"]["mine"] == 2

    store.append(lab("d5", 1))
    retraction = store.undo("alice", "memes", "кот в сапогах", "d5")  # only one grade: retract
    assert retraction.grade is None
    assert "d5" not in store.grades_for("memes", "кот в сапогах", "alice")
    assert store.history("memes", "кот в сапогах", "d5")["grade"].isna().tolist() == [False, True]
    assert store.undo("alice", "memes", "кот в сапогах", "never-graded") is None
    assert len(store.read().frame) == 5  # undo only ever appends


# ------------------------------------------------------------------ split


@pytest.mark.parametrize("query, split", [
    ("кот в сапогах", "eval"), ("когда пятница", "train"), ("cat meme", "eval"), ("sad pepe", "train"),
])
def test_split_of_is_fixed_for_known_queries(query, split):
    assert split_of(query) == split  # changing these silently moves queries between splits


@settings(max_examples=100, deadline=None)
@given(words=st.lists(st.text(alphabet="abcxyzABCXYZабвгдёЖЩЯ", min_size=1, max_size=8), min_size=1, max_size=5),
       seps=st.lists(st.sampled_from([" ", "  ", "\t", "\n", " \u00a0"]), min_size=6, max_size=6))
def test_split_ignores_case_and_whitespace(words, seps):
    query = " ".join(words)
    messy = seps[0] + "".join(w.swapcase() + s for w, s in zip(words, seps[1:])) + seps[-1]
    assert split_of(messy) == split_of(query)


def test_split_share_is_roughly_respected():
    share = sum(split_of(f"запрос {i}") == "eval" for i in range(3000)) / 3000
    assert 0.26 < share < 0.34


# ------------------------------------------------------------------ hostile text

HOSTILE = ["\x00", "\n", "\r", "\r\n", '"', '""', ",", "\\", "\\n", "\\x00", "\t", "\x18", "\x1b",
           "\u202e", "\u200f", "\ufeff", "\u2028", "\x85", "😀", "👩‍👩‍👧", "=", "+", "-", "@",
           "=HYPERLINK(\"http://x\")", "NA", "nan", "None", " ", "ё"]
hostile_text = st.lists(st.one_of(st.text(max_size=6), st.sampled_from(HOSTILE)), max_size=10).map("".join)
hostile_key = hostile_text.filter(lambda s: s.strip())
tried = {"round_trip": 0}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=st.lists(st.builds(
    Label, annotator=hostile_key, corpus=hostile_key, query=hostile_key, doc_id=hostile_key,
    grade=st.sampled_from([*GRADES, None]), model=hostile_text,
    rank=st.none() | st.integers(0, 10**6), note=hostile_text), min_size=1, max_size=3))
def test_hostile_text_round_trips_exactly(tmp_path, labels):
    tried["round_trip"] += 1
    store = LabelStore(tmp_path / f"hostile-{tried['round_trip']}.csv")
    stored = [store.append(labels[0]), *store.append_many(labels[1:])]
    got = read_both_ways(store)
    assert got.skipped == []
    rows = [Label(**{c: (None if pd.isna(v) else v) for c, v in row.items()})
            for row in got.frame.to_dict("records")]
    assert rows == stored
    for s in stored:  # and the app finds them again under the exact same text
        assert s.doc_id in store.history(s.corpus, s.query, s.doc_id)["doc_id"].tolist()


def test_hostile_round_trip_example_count():
    # Runs after the property test in file order; documents how many examples were tried.
    print(f"hostile round-trip examples tried: {tried['round_trip']}")
    assert tried["round_trip"] == 0 or tried["round_trip"] >= 100  # 0: property test deselected


def test_one_megabyte_strings_round_trip(store):
    rng = random.Random(7)
    big = "".join(rng.choice(HOSTILE + ["мем", "a,b", "x"]) for _ in range(200_000))
    big = ("=" + big * 10)[:1_000_000]  # leading "=" too
    assert len(big) == 1_000_000
    stored = store.append(lab(doc_id=big[:50_000], query=big, note=big[::-1]))
    got = read_both_ways(store)
    assert got.skipped == []
    row = got.frame.iloc[0]
    assert (row["query"], row["doc_id"], row["note"]) == (stored.query, stored.doc_id, stored.note)


def test_raw_file_is_one_line_per_record_without_control_characters(store):
    store.append(lab(query="a\nb\rc\x00d", note="\x1b[31m"))
    lines = store.path.read_bytes().split(b"\n")
    assert len(lines) == 3 and lines[-1] == b""
    assert not any(b < 32 and b != 9 for b in lines[1])


# ------------------------------------------------------------------ export


def test_export_neutralises_formulas_but_store_keeps_exact_text(store):
    texts = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx", "safe = text"]
    for i, t in enumerate(texts):
        store.append(lab(doc_id=f"d{i}", query=t, note=t, grade=-1 if i == 0 else 1))
    frame = store.read().frame
    assert frame["query"].tolist() == texts  # the store is exact

    data = export_csv(frame)
    assert data.startswith("\ufeff".encode())
    exported = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert [r["query"] for r in exported] == ["'" + t for t in texts[:-1]] + ["safe = text"]
    assert [r["note"] for r in exported] == [r["query"] for r in exported]
    assert exported[0]["grade"] == "-1"  # numbers are not text cells: left alone


def spreadsheet_cells(data: str, sep: str) -> list[list[str]]:
    """How Excel reads a CSV whose list separator is `sep`: a double quote opens a quoted
    field only at the start of a cell; after the closing quote, characters up to the next
    separator are appended as they are; outside quotes `sep` ends a cell and a line break a row."""
    rows, row, cell, i, quoted, at_start = [], [], "", 0, False, True
    while i < len(data):
        ch = data[i]
        if quoted:
            if ch == '"' and data[i + 1:i + 2] == '"':
                cell, i = cell + '"', i + 2
                continue
            if ch == '"':
                quoted = False
            else:
                cell += ch
        elif ch == '"' and at_start:
            quoted = True
        elif ch == sep:
            row.append(cell)
            cell, at_start, i = "", True, i + 1
            continue
        elif ch in "\r\n":
            if ch == "\r" and data[i + 1:i + 2] == "\n":
                i += 1
            rows.append(row + [cell])
            row, cell, at_start, i = [], "", True, i + 1
            continue
        else:
            cell += ch
        at_start, i = False, i + 1
    if cell or row:
        rows.append(row + [cell])
    return rows


def is_formula(cell: str) -> bool:
    """A cell a spreadsheet would try as a formula: not a plain number (a desynchronised
    reader may leave the closing quote of the CSV field on it: `-3"`)."""
    return cell[:1] in ("=", "+", "-", "@") and not re.fullmatch(r'[+-]?\d+(\.\d+)?"?', cell)


@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_export_runs_no_formula_whatever_the_spreadsheet_splits_on(store, sep):
    # `ok;=1+1` used to go out unquoted: a spreadsheet splitting on `;` ran =1+1
    notes = ["ok;=1+1", "a,@b", "x\t+1", "строка\n=2+2", 'q";=1', "1;-2;-3", "ok; =HYPERLINK(\"x\")"]
    for i, note in enumerate(notes):
        store.append(lab(doc_id="-1001111111111" if i == 0 else f"-100111111111{i}_18", note=note))
    data = export_csv(store.read().frame).decode("utf-8-sig")
    cells = [c for row in spreadsheet_cells(data, sep) for c in row]
    assert not [c for c in cells if is_formula(c.lstrip(" "))]
    exported = list(csv.DictReader(io.StringIO(data, newline="")))
    assert exported[0]["note"] == "ok;'=1+1" and exported[5]["note"] == "1;-2;-3"   # numbers stay numbers
    assert exported[0]["doc_id"] == "-1001111111111"                               # a real negative id
    assert exported[1]["doc_id"] == "'-1001111111111_18"                           # not a number: defused
    assert all(line.startswith('"') for line in data.split("\r\n")[1:] if line)   # every text field quoted
    assert '"-1001111111111",2,""' in data.split("\r\n")[1]                     # grade: a number, unquoted


# ------------------------------------------------------------------ damage


def test_damaged_line_is_reported_and_appends_keep_working(store):
    store.append_many([lab("d1"), lab("d2"), lab("d3")])
    with open(store.path, "ab") as f:  # a hand edit gone wrong, a bad grade, stray bytes
        f.write(b"garbage,line\n")
        f.write(_encode_rows([lab("d9", split="train")]).replace(b",2,", b",7,"))
        f.write(b"\xff\xfe not utf-8\n")
    store.append(lab("d4"))

    got = read_both_ways(store)
    assert got.frame["doc_id"].tolist() == ["d1", "d2", "d3", "d4"]
    assert [(s.line_no, s.reason.split(" ")[0]) for s in got.skipped] == [
        (5, "expected"), (6, "grade"), (7, "not")]
    assert "garbage,line" in got.skipped[0].text_excerpt


def test_torn_last_row_is_reported_and_next_append_is_whole(store):
    store.append_many([lab("d1"), lab("d2")])
    row = _encode_rows([lab("d3", note="a note that gets cut", split=split_of("кот в сапогах"), ts="t")])
    with open(store.path, "ab") as f:
        f.write(row[: len(row) // 2])  # the writer died half way

    got = store.read()
    assert len(got.frame) == 2 and [s.line_no for s in got.skipped] == [4]

    store.append(lab("d4"))
    got = read_both_ways(store)
    assert got.frame["doc_id"].tolist() == ["d1", "d2", "d4"]
    assert [s.line_no for s in got.skipped] == [4]


def test_row_torn_inside_the_note_is_not_mistaken_for_a_whole_row(store):
    store.append(lab("d1"))
    row = _encode_rows([lab("d2", note="long note", split=split_of("кот в сапогах"), ts="t")])
    with open(store.path, "ab") as f:
        f.write(row[:-5])  # still 10 fields: "...,long " parses, but it is not the whole row
    store.append(lab("d3"))
    got = store.read()
    assert got.frame["doc_id"].tolist() == ["d1", "d3"]
    assert len(got.skipped) == 1 and "interrupted" in got.skipped[0].reason


def test_spreadsheet_resave_with_bom_and_crlf_still_reads(store):
    store.append_many([lab("d1"), lab("d2", note="x,y")])
    store.path.write_bytes(b"\xef\xbb\xbf" + store.path.read_bytes().replace(b"\n", b"\r\n"))
    got = store.read()
    assert got.skipped == [] and got.frame["doc_id"].tolist() == ["d1", "d2"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.binary(max_size=300) | st.lists(st.sampled_from(
    [b'"', b",", b"\n", b"\r", b"\x00", b"\x18", b"\xff", b"\xd0", b"2", b"train", b"\xef\xbb\xbf"])).map(b"".join))
def test_any_junk_is_never_fatal_and_never_hides_good_rows(tmp_path, junk):
    path = tmp_path / f"junk-{random.getrandbits(64)}.csv"
    store = LabelStore(path)
    store.append_many([lab("before-1"), lab("before-2")])
    with open(path, "ab") as f:
        f.write(junk)
    store.append(lab("after"))
    docs = read_both_ways(store).frame["doc_id"].tolist()
    assert docs[:2] == ["before-1", "before-2"] and docs[-1] == "after"


# ------------------------------------------------------------------ processes

def test_append_waits_for_the_exclusive_lock(store):
    store.append(lab("d1"))
    fd = os.open(store.path, os.O_RDONLY)
    try:
        labels.fcntl.flock(fd, labels.fcntl.LOCK_EX)  # another writer holds the file
        writer = threading.Thread(target=store.append, args=(lab("d2"),))
        writer.start()
        writer.join(0.3)
        assert writer.is_alive() and len(store.path.read_bytes().split(b"\n")) == 3  # waiting
    finally:
        os.close(fd)  # releases the lock
    writer.join(5)
    assert store.read().frame["doc_id"].tolist() == ["d1", "d2"]


WRITER = """
import sys
from core.labels.store import Label, LabelStore
path, who, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = LabelStore(path)
print("ready", flush=True)
sys.stdin.readline()  # start together
for i in range(n):
    store.append(Label(who, "memes", f"query {i % 7}", f"{who}-{i}", i % 3, rank=i, note="x," * (i % 5)))
"""


def test_eight_processes_appending_at_once_lose_nothing(tmp_path):
    path = tmp_path / "new-dir" / "labels.csv"  # does not exist yet: header race included
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"w{k}", "500"], env=child_env(),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for k in range(8)]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        p.communicate(timeout=120)  # also closes the pipes
        assert p.returncode == 0

    got = LabelStore(path).read()
    assert got.skipped == []
    assert len(got.frame) == 4000
    assert sorted(got.frame["doc_id"]) == sorted(f"w{k}-{i}" for k in range(8) for i in range(500))
    assert path.read_bytes().count(b"ts,annotator,") == 1  # header written exactly once


CRASHER = """
import random, sys
from core.labels.store import Label, LabelStore
store, rng, i = LabelStore(sys.argv[1]), random.Random(sys.argv[2]), 0
while True:
    note = "ё" * rng.choice([10, 1000, 100_000, 400_000])  # big rows widen the kill window
    store.append(Label("crash", "memes", "q", f"{sys.argv[2]}-{i}", 1, note=note))
    print(f"{sys.argv[2]}-{i}", flush=True)  # only after append returned: it is on disk
    i += 1
"""


def test_killed_writer_loses_no_confirmed_label(tmp_path):
    store = LabelStore(tmp_path / "labels.csv")
    confirmed: list[str] = []
    for round_no in range(3):
        proc = subprocess.Popen([sys.executable, "-c", CRASHER, str(store.path), f"r{round_no}"],
                                env=child_env(), stdout=subprocess.PIPE, text=True)
        for _ in range(20 + 10 * round_no):
            confirmed.append(proc.stdout.readline().strip())
        time.sleep(random.uniform(0, 0.02))
        os.kill(proc.pid, signal.SIGKILL)
        rest, _ = proc.communicate(timeout=30)
        confirmed += rest.split()  # confirmations that were already flushed before the kill

        got = store.read()
        assert len(got.skipped) <= round_no + 1  # at most one torn row per kill
        assert all("interrupted" in s.reason for s in got.skipped)
        assert set(confirmed) <= set(got.frame["doc_id"])

    store.append(lab("after-the-crashes"))
    got = store.read()
    assert got.frame["doc_id"].iloc[-1] == "after-the-crashes"
    assert len(got.skipped) <= 3
