"""The tp4_cnn assignment: the reference passes every hidden check (through the probes, in process),
the typical bugs of a residual block and a training step are each caught and named, the CIFAR-10
training run is deferred on a CPU grader, the notebook's points, and one real sandboxed grading of
the solution notebook."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder import checks
from autograder.results import DEFERRED, NOT_IMPLEMENTED
from autograder.stages import threshold
from autograder.stages.run_checks import run_assignment, run_check
from autograder.submission import InProcess
from reference import tp4_cnn as tp4

ROOT = Path(__file__).resolve().parents[2]
A = "tp4_cnn"
SOURCE = ROOT / "assignments" / "source" / A / f"{A}.ipynb"


@pytest.fixture(scope="module")
def spec():
    return checks.load(A)


def _result(spec, function: str, name: str, namespace: dict):
    check = next(c for c in spec.checks if c.function == function and c.name == name)
    return run_check(check, InProcess(namespace, source=""), spec, "dev")


def test_reference_passes_every_check(spec):
    results = run_assignment(spec, InProcess(vars(tp4)), "dev")
    assert [(r.check_id, r.message) for r in results if not r.passed] == []
    assert sum(r.points for r in results) == spec.max_points - spec.threshold.points == 15


def test_stubs_are_not_implemented(spec):
    def stub(*args, **kwargs):
        raise NotImplementedError

    results = run_assignment(spec, InProcess({f: stub for f in spec.functions}, source=""), "dev")
    assert {r.status for r in results} == {NOT_IMPLEMENTED}


# --- typical bugs -------------------------------------------------------------------------------------


class NoProjection(tp4.BasicBlock):
    """The shortcut is always x: the sum fails when the shape changes."""

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + x)


class FreeShortcut(tp4.BasicBlock):
    """A parameter-free shortcut (subsample, zero-pad the channels) instead of the 1×1 projection."""

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__(in_channels, out_channels, stride)
        self.shortcut = nn.Identity()
        self.stride, self.extra = stride, out_channels - in_channels

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        short = x[:, :, :: self.stride, :: self.stride]
        short = F.pad(short, (0, 0, 0, 0, 0, max(self.extra, 0)))[:, : out.shape[1]]
        return F.relu(out + short)


class NoFinalReLU(tp4.BasicBlock):
    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return out + self.shortcut(x)


class NoInnerReLU(tp4.BasicBlock):
    def forward(self, x):
        out = self.bn2(self.conv2(self.bn1(self.conv1(x))))
        return F.relu(out + self.shortcut(x))


class NoShortcut(tp4.BasicBlock):
    def forward(self, x):
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))


class FrozenBN(tp4.BasicBlock):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.bn1.weight.requires_grad_(False)


class UnusedLayer(tp4.CNN):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.extra = nn.Linear(3, 3)


class ListOfStages(tp4.ResNet):
    """The stages kept in a plain list: their parameters are not registered."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.plain = list(self.stages)
        del self.stages

    def forward(self, x):
        x = self.stem(x)
        for stage in self.plain:
            x = stage(x)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def no_zero_grad(model, optimizer, x, labels):
    value = F.cross_entropy(model(x), labels)
    value.backward()
    optimizer.step()
    return value.item()


def no_step(model, optimizer, x, labels):
    value = F.cross_entropy(model(x), labels)
    optimizer.zero_grad()
    value.backward()
    return value.item()


def returns_tensor(model, optimizer, x, labels):
    value = F.cross_entropy(model(x), labels)
    optimizer.zero_grad()
    value.backward()
    optimizer.step()
    return value


BUGS = [
    ("BasicBlock", NoProjection, "shapes", "raised RuntimeError"),
    ("BasicBlock", FreeShortcut, "parameters", "shortcut projection (1×1 convolution"),
    ("BasicBlock", NoFinalReLU, "identity", "apply the ReLU after adding the shortcut"),
    ("BasicBlock", NoInnerReLU, "nonlinear", "put a ReLU between the two convolutions"),
    ("BasicBlock", NoShortcut, "identity", "add the shortcut x"),
    ("BasicBlock", FrozenBN, "gradients", "bn1.weight do not require grad"),
    ("CNN", UnusedLayer, "gradients", "have no gradient"),
    ("ResNet", ListOfStages, "parameters", "parameters, expected between"),
    ("train_step", no_zero_grad, "zero_grad", "call optimizer.zero_grad() before loss.backward()"),
    ("train_step", no_step, "matches_reference", "call optimizer.step()"),
    ("train_step", returns_tensor, "matches_reference", "Python float"),
]


@pytest.mark.parametrize("function,bug,check,message", BUGS, ids=[b[1].__name__ for b in BUGS])
def test_hidden_check_names_the_bug(spec, function, bug, check, message):
    namespace = {**vars(tp4), function: bug}
    if function == "BasicBlock":  # the reference ResNet builds its blocks from the module's global name
        namespace["ResNet"] = tp4.ResNet
    r = _result(spec, function, check, namespace)
    assert not r.passed and message in r.message, r.message


def test_no_zero_grad_passes_the_clean_step(spec):
    """A step without zero_grad is right from clean gradients: only the zero_grad check fails."""
    assert _result(spec, "train_step", "matches_reference", {**vars(tp4), "train_step": no_zero_grad}).passed


# --- the CIFAR-10 run ------------------------------------------------------------------------------------


def test_threshold_is_deferred_on_cpu(spec, tmp_path):
    """On a CPU grader with the default dataset (which has no tp4 budget), the run is deferred, not
    an error; grade_class accepts the assignment."""
    assert spec.threshold.device == "cuda" and "cifar10" in spec.threshold.budgets
    r = threshold.run_threshold(A, spec.threshold, None, [], dataset=threshold.DEFAULT_DATASET, device="cpu")
    assert r.status == DEFERRED and r.points == 0 and "needs GPU" in r.message
    from autograder.grade import grade_class

    (tmp_path / "submitted").mkdir()
    assert grade_class(tmp_path / "submitted", [A], tmp_path / "out", progress=False) == []


def test_cnn_recipe_runs_the_students_classes():
    """The recipe, on a few fake CIFAR-like images on the CPU: predictions per epoch, from the
    notebook's ResNet and train_step."""
    g = torch.Generator().manual_seed(0)
    data = {"x_train": torch.randint(0, 256, (64, 3 * 8 * 8), generator=g, dtype=torch.uint8),
            "y_train": torch.randint(0, 10, (64,), generator=g), "params": {},
            "x_test": torch.randint(0, 256, (20, 3 * 8 * 8), generator=g, dtype=torch.uint8)}
    budget = dict(model="ResNet", kwargs=dict(in_channels=3, num_classes=10, widths=[4, 8], blocks=[1, 1]),
                  shape=[3, 8, 8], epochs=2, batch_size=32, lr=0.05, momentum=0.9, weight_decay=5e-4,
                  augment=True, seed=0)
    out = InProcess(vars(tp4)).train("cnn", data, budget, 60)
    assert out["predictions"].shape == (2, 20) and out["predictions"].dtype == torch.int64
    assert len(out["train_loss"]) == 2


def test_gpu_grading_path_trains_the_notebook_in_a_gpu_worker(tmp_path, monkeypatch):
    """``grade --device cuda``, smoke-tested on whatever machine runs the tests: the solution
    notebook's ResNet and train_step train in a GPU-mode worker (on the CPU where there is no
    GPU), with the run's own time and CPU budget, on a tiny CIFAR-10 in the real pickle layout;
    the grader computes the accuracy from the predictions (the checks are left out here: the
    sandboxed test below runs them)."""
    import dataclasses

    from realformats import write_cifar10

    from autograder.checks import tp4_cnn as module
    from autograder.grade import grade_one
    from autograder.results import PASSED
    from autograder.stages import sandbox

    write_cifar10(tmp_path / "data", per_batch=16, signal=True)
    spec = module.ASSIGNMENT.threshold
    budget = {**spec.budgets["cifar10"], "kwargs": dict(in_channels=3, num_classes=10, widths=[8, 16], blocks=[1, 1]),
              "epochs": 3, "batch_size": 32}
    tiny = dataclasses.replace(spec, budgets={"cifar10": budget}, minimum={"cifar10": 0.0})
    monkeypatch.setattr(module, "ASSIGNMENT", dataclasses.replace(module.ASSIGNMENT, checks=(), threshold=tiny))
    started = []

    class Recorded(sandbox.Sandbox):
        def _start(self):
            started.append(self.limits)
            super()._start()

    monkeypatch.setattr(sandbox, "Sandbox", Recorded)
    graded = grade_one("alice", SOURCE, A, dataset="cifar10", data_root=str(tmp_path / "data"), device="cuda",
                       unsafe=not sandbox.bwrap_available())
    assert graded.error == "" and [(limits.gpu, limits.cpu_seconds >= 300 + spec.seconds) for limits in started] == [(True, True)]
    run = graded.results[-1]
    assert run.check_id == f"{A}.train.threshold" and run.status == PASSED, run.message
    d = run.details
    assert d["dataset"] == "cifar10" and d["epochs"] == [1, 2, 3] and len(d["train_loss"]) == 3
    assert sum(map(sum, d["confusion"])) == 16 and d["accuracy"] == d["test_accuracy"][-1]


# --- the notebook -------------------------------------------------------------------------------------


def test_test_cells_carry_the_grader_points(spec):
    nb = nbformat.read(str(SOURCE), as_version=4)
    cells = {c.metadata["nbgrader"]["grade_id"][len("test_"):]: c.metadata["nbgrader"]["points"]
             for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}
    expected = {f: sum(c.points for c in spec.checks if c.function == f) for f in spec.functions}
    expected["train"] = spec.threshold.points
    assert cells == expected == {"CNN": 3, "BasicBlock": 6, "ResNet": 3, "train_step": 3, "train": 3}
    questions = [c for c in nb.cells if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("grade")]
    assert len(questions) == 3 and all(c.metadata["nbgrader"]["points"] == 2 for c in questions)


def test_solution_notebook_in_the_sandbox_gets_full_marks_but_the_deferred_run(tmp_path):
    from autograder.grade import grade_one
    from autograder.stages.sandbox import bwrap_available

    folder = tmp_path / "submitted" / "alice" / A
    folder.mkdir(parents=True)
    shutil.copy(SOURCE, folder / f"{A}.ipynb")
    graded = grade_one("alice", folder / f"{A}.ipynb", A, profile="dev", unsafe=not bwrap_available())
    assert graded.error == "", graded.error
    assert [(r.check_id, r.message) for r in graded.results if not r.passed and r.status != DEFERRED] == []
    run = graded.results[-1]
    assert run.check_id == f"{A}.train.threshold" and run.status == DEFERRED
    assert graded.score == graded.max_score - run.max_points == 15


# --- the students' visible checks (no reference: properties only) ----------------------------------------


BANK = ROOT / "student_template" / A / "examples.npz"


@pytest.mark.parametrize("function", ["CNN", "BasicBlock", "ResNet", "train_step", "train"])
def test_reference_passes_the_visible_checks(function):
    from tpcheck import student

    report = student._training(vars(tp4), BANK) if function == "train" else student.report(function, vars(tp4), bank=BANK)
    assert report.passed, str(report)


@pytest.mark.parametrize("function,bug,message", [
    ("BasicBlock", NoFinalReLU, "apply the ReLU after adding the shortcut"),
    ("BasicBlock", NoShortcut, "add the shortcut x"),
    ("BasicBlock", FreeShortcut, "a 1×1 projection"),
    ("BasicBlock", FrozenBN, "bn1.weight got no gradient"),
    ("CNN", UnusedLayer, "extra.weight, extra.bias got no gradient"),
    ("train_step", no_zero_grad, "call optimizer.zero_grad() before loss.backward()"),
], ids=lambda v: getattr(v, "__name__", None) or str(v)[:20])
def test_visible_check_names_the_bug(function, bug, message):
    from tpcheck import student

    report = student.report(function, {**vars(tp4), function: bug}, bank=BANK)
    assert not report.passed and message in str(report), str(report)
