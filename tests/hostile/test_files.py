"""Hostile files and names in one class with two honest students (corpus: corpus_files.py).

The class is graded three times, once per module: the honest students alone, then honest and
hostile together twice (``--jobs 2``, then ``--jobs 1`` into another folder). Asserted: the class
finishes with a complete gradebook; the honest rows are the same bytes as without attackers;
every attacker earns at most the points of its honest functions (0 when refused), with a named
reason in its grading.json (or in report.html for a folder refused outright); grades.csv runs no
formula; every result file is small; the two runs give the same grades.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest
from corpus_files import ATTACKS, BUGGY, CORRECT, HONEST, NON_UTF8, A, batch_dies_for_one, dies_for_one, write_class
from markupsafe import escape

from autograder import checks
from autograder.grade import grade_class, grade_in_pool
from autograder.results import CheckResult, Graded
from autograder.stages import find
from autograder.stages.extract import ExtractError, read_notebook
from autograder.stages.gradebook import gradebook_csv
from autograder.stages.sandbox import Limits, bwrap_available
from autograder.stages.store import MAX_MESSAGE, TRUNCATED, load_results, write_results

SPEC = checks.load(A)
LIMITS = Limits(call_seconds=4, startup_seconds=60, submission_seconds=120)
needs_bwrap = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap cannot create namespaces here")
SHOWN = {"non_utf8": ascii(NON_UTF8), "row\ninjection": ascii(b"row\ninjection")}  # how the report names a folder


def folder_of(label: str) -> str:
    return os.fsdecode(NON_UTF8) if label == "non_utf8" else label


def lines(out: Path) -> dict[str, str]:
    """grades.csv's lines by their first cell (the student, as written)."""
    text = (out / "grades.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))[1:]
    return {row[0]: line for row, line in zip(rows, text.splitlines()[1:])}


def csv_cell(name: str) -> str:
    return "'" + name if name.startswith(("=", "+", "-", "@", "\t", "\r")) else name


def expected_points(breaks: frozenset[str] | None, base: Path, honest_scores: dict[str, float]) -> float:
    if breaks is None:
        return 0.0
    start = honest_scores["alice" if base == CORRECT else "bob"]
    if not breaks:
        return start
    if breaks >= set(SPEC.functions):
        return 0.0
    lost = sum(c.points for c in SPEC.checks if c.function in breaks)
    if breaks & set(SPEC.threshold.uses):
        lost += SPEC.threshold.points
    return start - lost


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    if not bwrap_available():
        pytest.skip("bubblewrap cannot create namespaces here")
    alone = write_class(tmp_path_factory.mktemp("honest_only"), attackers=False)
    mixed = write_class(tmp_path_factory.mktemp("mixed"), attackers=True)
    out_alone, out1, out2 = (tmp_path_factory.mktemp(n) for n in ("out_alone", "out1", "out2"))
    grade_class(alone, [A], out_alone, jobs=1, limits=LIMITS, progress=False)
    first = grade_class(mixed, [A], out1, jobs=2, limits=LIMITS, progress=False)
    grade_class(mixed, [A], out2, jobs=1, limits=LIMITS, progress=False)
    return out_alone, out1, out2, {g.student: g for g in first}


def test_at_least_fifteen_attacks():
    assert len(ATTACKS) >= 15


@needs_bwrap
def test_class_finishes_with_a_complete_gradebook(graded):
    _, out, _, results = graded
    rows = lines(out)
    graded_folders = {folder_of(k) for k, a in ATTACKS.items() if not a.folder_refused} | set(HONEST)
    assert set(rows) == {csv_cell(s) for s in graded_folders}
    assert set(results) == graded_folders
    assert (out / "report.html").is_file()


@needs_bwrap
def test_honest_rows_are_the_same_bytes_as_without_attackers(graded):
    alone, out, _, results = graded
    honest_alone, mixed = lines(alone), lines(out)
    header = lambda o: (o / "grades.csv").read_text().splitlines()[0]  # noqa: E731
    assert header(alone) == header(out)
    for student in HONEST:
        assert mixed[student] == honest_alone[student]
    assert results["alice"].score == SPEC.max_points and 0 < results["bob"].score < SPEC.max_points


@needs_bwrap
@pytest.mark.parametrize("label", sorted(k for k, a in ATTACKS.items() if not a.folder_refused))
def test_each_attacker_earns_at_most_its_honest_points_with_a_named_reason(graded, label):
    _, out, _, results = graded
    attack = ATTACKS[label]
    g = results[folder_of(label)]
    honest = {s: results[s].score for s in HONEST}
    assert g.score <= expected_points(attack.breaks, attack.base, honest), [r.message for r in g.results]
    if attack.breaks is not None:
        assert g.score == expected_points(attack.breaks, attack.base, honest)
    stored = (out / folder_of(label) / A / "grading.json").read_text(encoding="utf-8")
    data = json.loads(stored)
    everything = " ".join([data["error"], *data["notes"], *(r["message"] for r in data["results"])])
    assert attack.reason in everything, everything
    if attack.breaks is None:
        assert data["error"] and attack.reason in data["error"]


@needs_bwrap
@pytest.mark.parametrize("label", sorted(k for k, a in ATTACKS.items() if a.folder_refused))
def test_refused_folders_are_named_in_the_class_report(graded, label):
    _, out, _, _ = graded
    page = (out / "report.html").read_text(encoding="utf-8")
    section = page[page.index("Could not be graded"):]
    assert escape(SHOWN.get(label, label)) in section
    assert escape(ATTACKS[label].reason) in section
    # nothing written under its name, and grades.csv / report.html are the grader's files
    assert (out / "grades.csv").is_file() and (out / "report.html").is_file()
    if label != "non_utf8":
        assert not (out / label / A).exists()


@needs_bwrap
def test_gradebook_runs_no_formula(graded):
    _, out, _, _ = graded
    for row in csv.reader(io.StringIO((out / "grades.csv").read_text(encoding="utf-8"))):
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
    assert lines(out)["'=HYPERLINK(\"https:evil.example\",\"y\")"]


@needs_bwrap
def test_every_result_file_is_small(graded):
    _, out, _, _ = graded
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) > 3 * len(HONEST)
    for path in files:
        assert path.stat().st_size < 1 << 20, path


@needs_bwrap
def test_huge_message_is_capped_with_a_mark(graded):
    _, _, _, results = graded
    g = results["huge_message_at_load"]
    long = [r.message for r in g.results if TRUNCATED in r.message] + [g.error]
    # cut where it is raised (the sandbox sends at most a few KB of an error) and again where it is stored
    assert TRUNCATED in g.error and all(len(m) <= MAX_MESSAGE + len(TRUNCATED) for m in long)


@needs_bwrap
def test_a_second_run_gives_the_same_grades(graded):
    _, out1, out2, _ = graded
    assert (out1 / "grades.csv").read_bytes() == (out2 / "grades.csv").read_bytes()


# --- the defences one at a time, without a class -------------------------------------------------------


def test_find_refuses_links_fifos_and_reserved_names(tmp_path):
    submitted = write_class(tmp_path, attackers=True)
    found = find.scan(submitted, A)
    by_student = {s.student: s for s in found.submissions}
    for label, attack in ATTACKS.items():
        if attack.folder_refused:
            assert SHOWN.get(label, label) in {n for n, _ in found.refused}, label
            assert folder_of(label) not in by_student
        elif attack.breaks is None:
            sub = by_student[folder_of(label)]
            assert sub.notebook is None and attack.reason in sub.refused, (label, sub)
        else:
            assert by_student[folder_of(label)].notebook is not None
    assert by_student["alice"].notebook == submitted / "alice" / A / f"{A}.ipynb"


def test_read_notebook_never_follows_links_never_blocks_and_caps_size(tmp_path):
    os.mkfifo(tmp_path / "fifo.ipynb")
    os.symlink("/dev/zero", tmp_path / "zero.ipynb")
    os.symlink(CORRECT, tmp_path / "link.ipynb")
    with open(tmp_path / "big.ipynb", "wb") as f:
        f.truncate(21 << 20)
    for name, message in [("fifo.ipynb", "not a regular file"), ("zero.ipynb", "symbolic link"),
                          ("link.ipynb", "symbolic link"), ("big.ipynb", "20 MB")]:
        with pytest.raises(ExtractError, match=message):
            read_notebook(tmp_path / name)
    assert read_notebook(CORRECT).cells


def test_any_string_survives_and_is_capped(tmp_path):
    bad = "lone \ud800 and \udc80 " + "x" * 20_000_000
    result = CheckResult(f"{A}.predict.c", "t", "predict", "failed", 0.0, 1.0, False, bad,
                         counterexample={"x": bad}, details={"got": bad, "list": [bad]})
    folder = write_results(tmp_path, Graded("s", A, [result], 1.0, error=bad, notes=[bad] * 1000, output=bad))
    for name in ("grading.json", "results.json"):
        assert (folder / name).stat().st_size < 1 << 20
    back = load_results(tmp_path, A)[0]
    assert back.results[0].message.endswith(TRUNCATED) and back.results[0].message.startswith("lone \ud800")
    assert back.error.endswith(TRUNCATED) and len(back.notes) <= 201


def test_gradebook_neutralises_formulas_but_not_numbers():
    g = [Graded(name, A, [CheckResult(f"{A}.f.c", "t", "f", "passed", 1.0, 1.0, False)], 1.0)
         for name in ('=HYPERLINK("https:evil.example","y")', "+cmd", "-2", "@SUM(1)", "\tx", "\rx", "honest")]
    rows = list(csv.reader(io.StringIO(gradebook_csv(g))))[1:]
    assert sorted(r[0] for r in rows) == sorted(["'=HYPERLINK(\"https:evil.example\",\"y\")", "'+cmd", "'-2", "'@SUM(1)",
                                                 "'\tx", "'\\rx", "honest"])
    assert all(r[2:4] == ["1", "1"] and r[-1] == "1" for r in rows)  # score, max_score … the check's points


def test_a_dying_pool_worker_costs_only_its_submission():
    todo = [(s, None, A, "", ()) for s in ("a", "dies", "b", "c", "d")]
    done, died = [], []
    grade_in_pool(dies_for_one, todo, 2, {}, lambda g: done.append(g.student),
                  lambda item, e: died.append((item[0], type(e).__name__)))
    assert sorted(done) == ["a", "b", "c", "d"] and died == [("dies", "BrokenProcessPool")]


def test_a_dying_pool_worker_costs_only_its_submission_when_a_student_is_a_batch():
    """A student a pool worker (grade_batch): a notebook that kills its worker costs that notebook,
    not the student's other notebooks nor anyone else's."""
    todo = [(s, None, a, "", ()) for s in ("a", "b", "c") for a in ("one", "two")]
    todo[3] = ("dies", None, "two", "", ())  # b's second notebook kills its worker
    batches = [todo[0:2], todo[2:4], todo[4:6]]
    done, died = [], []
    grade_in_pool(batch_dies_for_one, batches, 2, {}, lambda g: done.append((g.student, g.assignment)),
                  lambda item, e: died.append((item[0], item[2], type(e).__name__)), batches=True)
    assert sorted(done) == [("a", "one"), ("a", "two"), ("b", "one"), ("c", "one"), ("c", "two")]
    assert died == [("dies", "two", "BrokenProcessPool")]


def test_the_example_notebooks_are_there():
    assert CORRECT.is_file() and BUGGY.is_file()
