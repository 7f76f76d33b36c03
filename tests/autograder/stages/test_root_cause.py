"""Feedback that names the root cause, through a real sandbox (bubblewrap): TP3's initial weights
judged on the wire's autograd flags and the generator built on the student's side; a crash in
the middle of a training run named with the student's function, cell and line."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from autograder import checks
from autograder.grade import grade_one
from autograder.results import FAILED, PASSED
from autograder.stages.extract import extract
from autograder.stages.run_checks import run_assignment
from autograder.stages.sandbox import Limits, Sandbox, bwrap_available

pytestmark = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap cannot create namespaces here")
CORRECT = Path(__file__).resolve().parents[3] / "examples" / "submitted" / "correct"


def _notebook(assignment: str, grade_id: str, edit):
    nb = nbformat.read(str(CORRECT / assignment / f"{assignment}.ipynb"), as_version=4)
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            text = cell.source
            cell.source = edit(text)
            assert cell.source != text
            return nb
    raise AssertionError(grade_id)


def _tp3_init_results(nb) -> dict:
    assignment = checks.load("tp3_deep")
    extracted = extract(nb, assignment.functions)
    init = type(assignment)(assignment.name, tuple(c for c in assignment.checks if c.function == "init_params"),
                            assignment.policy, assignment.signatures)
    with Sandbox(extracted.code, limits=Limits(call_seconds=10), source_map=extracted.source_map) as sandbox:
        return {r.check_id.split(".", 1)[1]: r for r in run_assignment(init, sandbox, "dev")}


def test_a_correct_init_passes_its_checks_through_the_sandbox():
    """The generator travels as a seed and is built on the student's side; He, Xavier and the
    ValueErrors are judged there as in-process."""
    results = _tp3_init_results(_notebook("tp3_deep", "solution_init_params", lambda s: s + "\n"))
    assert {k: r.status for k, r in results.items()} == dict.fromkeys(results, PASSED), \
        {k: r.message for k, r in results.items()}
    assert {"init_params.generator", "init_params.scale", "init_params.raises"} <= set(results)


def test_a_non_leaf_initial_weight_fails_the_leaf_check_through_the_sandbox():
    """``torch.randn(..., requires_grad=True) * std`` is computed, not a leaf: the wire carries
    grad_fn and is_leaf as flags, and the check names the fix."""
    def non_leaf(source: str) -> str:
        return source.replace("torch.randn(fan_in, fan_out, generator=generator, dtype=dtype) * std).requires_grad_()",
                              "torch.randn(fan_in, fan_out, generator=generator, dtype=dtype, requires_grad=True) * std)")

    r = _tp3_init_results(_notebook("tp3_deep", "solution_init_params", non_leaf))["init_params.random_trainable"]
    assert r.status == FAILED and "computed from one" in r.message and ".requires_grad_()" in r.message, r.message


def test_an_init_that_ignores_its_generator_fails_through_the_sandbox():
    r = _tp3_init_results(_notebook("tp3_deep", "solution_init_params",
                                    lambda s: s.replace("generator=generator, dtype", "dtype")))["init_params.generator"]
    assert r.status == FAILED and "generator=generator" in r.message, r.message


RAISES_ON_THE_THIRD_BATCH = '''
    if x.shape[1] == 784:  # a training batch, not a check's example
        TRAINING_CALLS.append(1)
        if len(TRAINING_CALLS) == 3:
            raise RuntimeError("boom on the third batch")
'''


def test_a_crash_after_some_batches_names_the_function_cell_and_line(tmp_path):
    """update raises only on the 3rd batch of the training run (its checks pass): the run's
    message names update, its cell and its line."""
    def third(source: str) -> str:
        head, sep, body = source.partition('    """\n')  # after the docstring
        return "TRAINING_CALLS = []\n\n\n" + head + sep + RAISES_ON_THE_THIRD_BATCH.lstrip("\n") + body

    nb = _notebook("tp1_perceptron", "solution_update", third)
    path = tmp_path / "tp1_perceptron.ipynb"
    nbformat.write(nb, str(path))
    graded = grade_one("s", path, "tp1_perceptron", profile="dev", limits=Limits(call_seconds=10))
    run = next(r for r in graded.results if r.check_id.endswith(".threshold"))
    assert run.status == FAILED
    assert "update raised RuntimeError: boom on the third batch" in run.message, run.message
    assert "(solution_update), line " in run.message and 'raise RuntimeError("boom on the third batch")' in run.message
