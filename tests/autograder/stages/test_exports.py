"""The LMS exports: lms.csv and Moodle's grade import CSV, from stored results and the roster."""

from __future__ import annotations

import csv

from autograder.results import FAILED, PASSED, CheckResult, Graded
from autograder.stages.exports import LMS_FILE, MOODLE_FILE, lms_csv, moodle_csv, write_exports
from autograder.stages.roster import Student

A, B = "tp1_perceptron", "tp2_shallow"


def graded(student: str, assignment: str, points: float, max_points: float = 10.0, **kw) -> Graded:
    results = [CheckResult(f"{assignment}.forward.a", "a", "forward", PASSED if points else FAILED, points,
                           max_points, True)]
    return Graded(student, assignment, results, max_points, **kw)


ROSTER = [Student("bob", "Bob", "Martin", "bob@example.org", "20231234"),
          Student("alice", "Alice", "Durand", "alice@example.org"),
          Student("carol", "=HYPERLINK(\"http://x\")", "Carol", "carol@example.org")]  # submitted nothing
GRADED = [graded("alice", A, 8), graded("alice", B, 6),
          graded("bob", A, 9, submitted_at="2026-10-02T10:00:00Z", due="2026-10-01T23:59:00Z",
                 seconds_late=36060, penalty=2.5),
          graded("dave", A, 0, error="the worker could not start")]  # not on the roster


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(text.splitlines()))


def test_lms_csv_has_every_student_sorted_with_penalties_and_totals():
    """Does every roster student get a row (no submission: 0, marked), a late one their penalty,
    and a graded student off the roster a row too?"""
    table = rows(lms_csv(GRADED, ROSTER, [A, B]))
    assert [r["id"] for r in table] == ["alice", "bob", "carol", "dave"]
    alice, bob, carol, dave = table
    assert (alice["first_name"], alice["last_name"], alice["email"]) == ("Alice", "Durand", "alice@example.org")
    assert (alice[A], alice[B], alice["total"], alice["max total"]) == ("8", "6", "14", "20")
    assert (bob[A], bob[f"{A} late penalty"], bob[f"{A} status"]) == ("6.5", "2.5", "late")
    assert (bob[B], bob[f"{B} status"], bob["total"]) == ("0", "no submission", "6.5")
    assert (carol[A], carol[B], carol[f"{A} status"], carol[f"{B} status"]) == ("0", "0", "no submission", "no submission")
    assert (dave[A], dave[f"{A} status"], dave["first_name"]) == ("0", "not graded", "")


def test_lms_csv_neutralises_formulas_and_is_deterministic():
    """Is a name that looks like a formula written so that no spreadsheet runs it, and do the
    same results in another order give the same bytes?"""
    text = lms_csv(GRADED, ROSTER, [A, B])
    assert rows(text)[2]["first_name"] == "'=HYPERLINK(\"http://x\")"
    assert lms_csv(GRADED[::-1], ROSTER[::-1], [A, B]) == text
    assert text.splitlines()[0] == (f"id,first_name,last_name,email,{A},{A} late penalty,{A} status,"
                                    f"{B},{B} late penalty,{B} status,total,max total")


def test_moodle_csv_has_an_identifying_column_and_one_per_grade_item():
    """Is it Moodle's import format: Email address and ID number to map a user from, one column per
    assignment with the score after the penalty?"""
    text = moodle_csv(GRADED, ROSTER, [A, B])
    assert text.splitlines()[0] == f"Email address,ID number,{A},{B}"
    table = {r["ID number"]: r for r in rows(text)}
    assert set(table) == {"alice", "20231234", "carol", "dave"}  # lms_user_id first, else the student id
    assert (table["20231234"]["Email address"], table["20231234"][A], table["20231234"][B]) == ("bob@example.org", "6.5", "0")
    assert (table["carol"][A], table["dave"]["Email address"]) == ("0", "")


def test_write_exports_writes_both_files(tmp_path):
    """Are lms.csv and moodle.csv written into OUT, with no temporary file left?"""
    paths = write_exports(tmp_path, GRADED, ROSTER, [A, B])
    assert paths == [tmp_path / LMS_FILE, tmp_path / MOODLE_FILE]
    assert paths[0].read_text(encoding="utf-8") == lms_csv(GRADED, ROSTER, [A, B])
    assert paths[1].read_text(encoding="utf-8") == moodle_csv(GRADED, ROSTER, [A, B])
    assert sorted(p.name for p in tmp_path.iterdir()) == [LMS_FILE, MOODLE_FILE]


def test_an_assignment_nobody_submitted_still_counts_its_maximum():
    """Does the max total include an assignment no one submitted (its checks' points)?"""
    from autograder import checks

    table = rows(lms_csv([graded("alice", A, 8)], [], [A, B]))
    assert table[0]["max total"] == f"{10 + checks.load(B).max_points:g}"
