"""Does `python -m autograder grade` refuse, in one line and before grading, what cannot work?"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.cli import LOCK_FILE, main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "submitted"


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", "grade", *argv], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


@pytest.mark.parametrize("option, value", [("--jobs", "0"), ("--jobs", "-2"), ("--jobs", "two"),
                                           ("--timeout", "0"), ("--timeout", "-1"), ("--timeout", "nan"),
                                           ("--timeout", "inf")])
def test_numeric_options_are_checked_at_parse_time(option, value, tmp_path):
    """Is a bad number refused by the parser (exit 2, one line naming the option), nothing graded?"""
    done = run(str(EXAMPLES), "--assignment", "tp1_perceptron", "--out", str(tmp_path / "out"), option, value)
    assert done.returncode == 2
    assert f"argument {option}" in done.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "out").exists()


def test_an_empty_class_is_refused(tmp_path, capsys):
    """A folder with no submitted/<student>/<assignment>/ layout: one line saying what was expected."""
    (tmp_path / "class" / "alice").mkdir(parents=True)
    assert main(["grade", str(tmp_path / "class"), "--assignment", "tp1_perceptron", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no submission of tp1_perceptron" in err and "<student>/<assignment>" in err


def test_the_source_folder_given_by_mistake_is_refused(tmp_path, capsys):
    assert main(["grade", str(ROOT / "assignments" / "source"), "--assignment", "tp1_perceptron",
                 "--out", str(tmp_path / "out")]) == 2
    assert "source/ folder" in capsys.readouterr().err


def test_a_dataset_the_assignment_does_not_train_on_is_one_line(tmp_path, capsys):
    """--dataset cifar10 for an MNIST assignment: one line, not a traceback."""
    assert main(["grade", str(EXAMPLES), "--assignment", "tp1_perceptron", "--dataset", "cifar10",
                 "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "tp1_perceptron has no training budget" in err and "Traceback" not in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere; a file in the way still refuses")
def test_an_unwritable_out_is_refused_before_grading(tmp_path, capsys):
    locked = tmp_path / "ro"
    locked.mkdir(mode=0o500)
    assert main(["grade", str(EXAMPLES), "--assignment", "tp1_perceptron", "--out", str(locked / "out")]) == 2
    assert "cannot write there" in capsys.readouterr().err


def test_an_out_that_is_a_file_is_refused_before_grading(tmp_path, capsys):
    (tmp_path / "out").write_text("not a folder")
    assert main(["grade", str(EXAMPLES), "--assignment", "tp1_perceptron", "--out", str(tmp_path / "out")]) == 2
    assert "cannot write there" in capsys.readouterr().err


def test_a_second_run_on_the_same_out_refuses(tmp_path, capsys):
    """Two runs on one --out at once: the second says so and writes nothing."""
    out = tmp_path / "out"
    out.mkdir()
    fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # the first run, still going
    try:
        assert main(["grade", str(EXAMPLES), "--assignment", "tp1_perceptron", "--out", str(out)]) == 2
    finally:
        os.close(fd)
    assert "another grading run" in capsys.readouterr().err
    assert not (out / "grades.csv").exists()


def test_lang_chooses_the_language_of_the_students_messages(tmp_path, monkeypatch):
    """--lang en|fr sets the grader's language and the environment its pool workers inherit;
    another language is refused by the parser."""
    from tpcheck import messages

    (tmp_path / "class" / "alice").mkdir(parents=True)
    monkeypatch.setenv(messages.ENV, "en")
    main(["grade", str(tmp_path / "class"), "--assignment", "tp1_perceptron", "--out", str(tmp_path / "out"),
          "--lang", "fr"])
    assert messages.language() == "fr" and os.environ[messages.ENV] == "fr"
    assert messages.say("student.passed", function="f") == "f : réussi"
    done = run(str(EXAMPLES), "--out", str(tmp_path / "out"), "--lang", "de")
    assert done.returncode == 2 and "argument --lang" in done.stderr.strip().splitlines()[-1]
