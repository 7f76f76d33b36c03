"""Gradescope's results.json: a check "not judged" by the blame rule is shown for what it is."""

from __future__ import annotations

from autograder.results import FAILED, NOT_JUDGED, PASSED, CheckResult, Graded
from autograder.stages.store import gradescope

BLAMED = "not judged: update uses forward, which is wrong (tp1_perceptron.forward.matches_reference); fix forward first"


def _result(name: str, status: str, points: float, message: str = "") -> CheckResult:
    return CheckResult(f"tp1_perceptron.update.{name}", name, "update", status, points, 2.0, False, message)


def test_a_not_judged_check_that_kept_its_points_is_passed_with_its_reason():
    graded = Graded("s", "tp1_perceptron", [_result("kept", NOT_JUDGED, 2.0, BLAMED),
                                            _result("lost", NOT_JUDGED, 0.0, BLAMED),
                                            _result("ok", PASSED, 2.0), _result("bad", FAILED, 0.0, "differs")], 8.0)
    tests = {t["number"].rsplit(".", 1)[1]: t for t in gradescope(graded)["tests"]}
    assert tests["kept"]["status"] == "passed" and tests["kept"]["score"] == 2.0
    assert tests["kept"]["output"].startswith("not judged: update uses forward")
    assert tests["lost"]["status"] == "failed" and tests["lost"]["output"].startswith("not judged")
    assert tests["ok"]["status"] == "passed" and tests["bad"]["status"] == "failed"
