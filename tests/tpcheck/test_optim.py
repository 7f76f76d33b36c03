"""The course's one learning-rate schedule and one optimizer factory (tpcheck.optim).

Pinned against the formulas and factories they replaced, float for float: the learning rate of
every step of every training run, and the optimizers built, must not have changed.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from tpcheck import optim

ROOT = Path(__file__).resolve().parents[2]
TOTALS = (1, 2, 7, 100, 1407, 11256)  # 11256 = 12 epochs × 938 batches, tp2 on MNIST


# --- the formulas replaced, as they were written ------------------------------------------------

def tp1_old(lr: float, schedule: str, step: int, total: int) -> float:
    """reference/tp1_perceptron.py::learning_rate before tpcheck.optim."""
    if schedule == "constant" or total <= 0:
        return lr
    progress = step / total
    if schedule == "linear":
        return lr * (1.0 - progress)
    return lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_old(lr: float, schedule: str, warmup: float, step: int, total: int) -> float:
    """reference/tp2_shallow.py::learning_rate and tpworker/recipes.py::_schedule before."""
    progress = step / max(total, 1)
    decay = {"constant": 1.0, "linear": 1.0 - progress,
             "cosine": 0.5 * (1.0 + math.cos(math.pi * progress))}[schedule]
    warm = (step + 1) / (warmup * total) if warmup > 0 else 1.0
    return lr * min(decay, warm)


@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine"])
@pytest.mark.parametrize("lr", [0.03, 0.2, 0.1])
def test_decays_are_the_old_floats(schedule, lr):
    """Are constant, linear and cosine (tp1, the grader's perceptron recipe) exactly the old η?"""
    for total in TOTALS:
        for step in range(total):
            assert optim.learning_rate(step, total, lr, schedule) == tp1_old(lr, schedule, step, total)
            assert optim.learning_rate(step, total, lr, schedule) == warmup_old(lr, schedule, 0.0, step, total)
    assert optim.learning_rate(0, 0, lr, schedule) == lr  # a run of no steps


@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine"])
@pytest.mark.parametrize("warmup", [0.1, 0.2, 0.5])
def test_warm_up_is_the_old_floats(schedule, warmup):
    """Is the cosine with warm-up of tp2 and the grader's shallow recipe exactly the old η?"""
    for lr in (0.2, 0.1):
        for total in TOTALS:
            for step in range(total):
                assert (optim.learning_rate(step, total, lr, schedule, warmup=warmup)
                        == warmup_old(lr, schedule, warmup, step, total))


def test_the_parts_use_it():
    """Do Parts 1 and 2 and the grader's recipes take their η from tpcheck.optim?"""
    from reference import tp1_perceptron as p1
    from reference import tp2_shallow as p2
    from tpworker import recipes

    for step, total in ((0, 10), (3, 10), (9, 10)):
        assert p1.learning_rate(p1.Hyper(), step, total) == optim.learning_rate(step, total, 0.03, "linear")
        assert p2.learning_rate(p2.Hyper(), step, total) == optim.learning_rate(step, total, 0.2, "cosine", warmup=0.2)
        budget = {"lr": 0.2, "schedule": "cosine", "warmup": 0.2}
        assert recipes._schedule(budget, step, total) == warmup_old(0.2, "cosine", 0.2, step, total)


# --- one cycle: torch's OneCycleLR, float for float ---------------------------------------------

def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def _groups(model: nn.Module, lr: float, wd: float, scale: float) -> list[dict]:
    """Two groups as the GPU engine builds them (BatchNorm at lr × scale)."""
    norm = {id(p) for m in model.modules() if isinstance(m, nn.BatchNorm1d) for p in m.parameters()}
    return [dict(params=[p for p in model.parameters() if id(p) not in norm], lr=lr, weight_decay=wd),
            dict(params=[p for p in model.parameters() if id(p) in norm], lr=lr * scale, weight_decay=wd / scale)]


def _state(optimizer: torch.optim.Optimizer) -> list[dict]:
    return [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]


# (optimizer as built before, the OneCycleLR keywords the code passed): the cases in use
CASES = {
    # tp3 (Adam, SGD with momentum, defaults) and the grader's deep recipe (Adam; SGD without momentum)
    "tp3-adam": (lambda: torch.optim.Adam(_model().parameters(), lr=2e-3, weight_decay=0.0), {}),
    "tp3-sgd": (lambda: torch.optim.SGD(_model().parameters(), lr=0.1, momentum=0.9, weight_decay=0.0), {}),
    "recipe-deep-sgd": (lambda: torch.optim.SGD(_model().parameters(), lr=2e-3), {}),
    # the grader's CNN recipe
    "recipe-cnn": (lambda: torch.optim.SGD(_model().parameters(), lr=0.1, momentum=0.9, nesterov=True,
                                           weight_decay=5e-4), {}),
    # the GPU engine: the MNIST CNN (AdamW, one-cycle defaults), the CIFAR-10 CNN, ResNet-18, the fast net
    "cnn-mnist": (lambda: torch.optim.AdamW(_groups(_model(), 3e-3, 0.0, 1.0), lr=3e-3),
                  dict(pct_start=0.3, anneal_strategy="cos", cycle_momentum=True, div_factor=25.0,
                       final_div_factor=1e4)),
    "cnn-cifar10": (lambda: torch.optim.SGD(_groups(_model(), 0.1, 5e-4, 1.0), lr=0.1, momentum=0.9, nesterov=True),
                    dict(pct_start=0.2, anneal_strategy="linear", cycle_momentum=False, div_factor=8.0,
                         final_div_factor=1e3)),
    "resnet": (lambda: torch.optim.SGD(_groups(_model(), 0.2, 5e-4, 1.0), lr=0.2, momentum=0.9, nesterov=True),
               dict(pct_start=0.2, anneal_strategy="linear", cycle_momentum=False, div_factor=5.0,
                    final_div_factor=1e4)),
    "fast": (lambda: torch.optim.SGD(_groups(_model(), 1.5, 0.0153 / 11.5, 64.0), lr=1.5, momentum=0.85,
                                     nesterov=True),
             dict(pct_start=0.23, anneal_strategy="linear", cycle_momentum=False, div_factor=5.0,
                  final_div_factor=0.2 / 0.07)),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("total", [1, 3, 10, 97, 490])
def test_one_cycle_is_torch_one_cycle(case, total):
    """Does Scheduler give, at every step, the very lr, momentum (β1) and param-group state of
    torch's OneCycleLR, for each use of it the project had?"""
    build, kw = CASES[case]
    old, new = build(), build()
    torch_sched = torch.optim.lr_scheduler.OneCycleLR(old, max_lr=[g["lr"] for g in old.param_groups],
                                                      total_steps=total, **kw)
    ours = optim.Scheduler(new, total, "onecycle", **{("anneal" if k == "anneal_strategy" else k): v
                                                      for k, v in kw.items()})
    for _ in range(total):
        assert _state(new) == _state(old)
        old.step(), new.step()
        torch_sched.step(), ours.step()
        assert ours.get_last_lr() == torch_sched.get_last_lr()
    assert _state(new) == _state(old)


def test_one_cycle_function_and_shape():
    """Is learning_rate's onecycle OneCycleLR's η, rising from lr/div_factor to lr at pct_start,
    then falling to lr/(div_factor·final_div_factor)?"""
    total, lr = 200, 0.1
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total)
    values = []
    for step in range(total):
        values.append(optim.learning_rate(step, total, lr, "onecycle"))
        assert values[-1] == opt.param_groups[0]["lr"]
        opt.step(), sched.step()
    peak = values.index(max(values))
    assert values[0] == pytest.approx(lr / 25) and values[peak] == pytest.approx(lr) and peak == 59
    assert values[-1] == pytest.approx(lr / 25 / 1e4)
    assert all(a < b for a, b in zip(values[:peak], values[1 : peak + 1]))
    assert all(a > b for a, b in zip(values[peak:-1], values[peak + 1 :]))
    momentum = [optim.one_cycle_momentum(s, total) for s in range(total)]
    assert momentum[peak] == pytest.approx(0.85) and momentum[0] == pytest.approx(0.95)


def test_one_cycle_refuses_what_torch_refuses():
    """Adagrad has no momentum to cycle; a run of no steps has no cycle: ValueError, as before."""
    with pytest.raises(ValueError, match="momentum or beta1"):
        optim.Scheduler(torch.optim.Adagrad([torch.zeros(1, requires_grad=True)], lr=0.1), 10, "onecycle")
    with pytest.raises(ValueError, match="total_steps"):
        optim.Scheduler(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1), 0, "onecycle")
    with pytest.raises(ValueError, match="unknown schedule"):
        optim.learning_rate(0, 10, 0.1, "step")


def test_scheduler_other_schedules():
    """Stepped over a torch optimizer, are the other schedules learning_rate's values per group?"""
    opt = torch.optim.SGD(_groups(_model(), 0.2, 0.0, 4.0), lr=0.2)
    sched = optim.Scheduler(opt, 50, "cosine", warmup=0.2)
    for step in range(50):
        assert [g["lr"] for g in opt.param_groups] == [optim.learning_rate(step, 50, peak, "cosine", warmup=0.2)
                                                        for peak in (0.2, 0.8)]
        opt.step(), sched.step()


# --- the optimizer factory ----------------------------------------------------------------------

def _same(a: torch.optim.Optimizer, b: torch.optim.Optimizer) -> bool:
    return type(a) is type(b) and a.defaults == b.defaults and _state(a) == _state(b)


def test_vocabulary():
    """One name per update rule, each a torch.optim class."""
    assert set(optim.OPTIMIZERS) == {"sgd", "momentum", "nesterov", "adam", "adamw", "adagrad"}
    w = [torch.zeros(2, requires_grad=True)]
    for name, cls in optim.OPTIMIZERS.items():
        assert type(optim.make_optimizer(w, name, 0.1)) is cls
    assert set(optim.WITH_MOMENTUM) == {n for n, cls in optim.OPTIMIZERS.items() if cls is torch.optim.SGD}
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'"):
        optim.make_optimizer(w, "lbfgs", 0.1)


def test_factory_builds_what_the_old_factories_built():
    """The boundary's, the probes', Part 3's, the grader's recipes' and the GPU engine's optimizers:
    same classes, same hyper-parameters."""
    from reference import tp3_deep as p3

    def w():
        return [torch.zeros(2, requires_grad=True)]

    old_boundary = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adagrad": torch.optim.Adagrad}
    for name, cls in old_boundary.items():
        assert _same(optim.make_optimizer(w(), name, 0.1), cls(w(), lr=0.1))
    old_probes = {"sgd": lambda p: torch.optim.SGD(p, lr=0.01), "momentum": lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9),
                  "adam": lambda p: torch.optim.Adam(p, lr=0.01)}
    for name, build in old_probes.items():
        assert _same(optim.make_optimizer(w(), name, 0.01), build(w()))
    for name in p3.OPTIMIZERS:  # the notebook's given make_optimizer
        for kw in ({}, {"weight_decay": 0.0}) + (({"momentum": 0.9, "weight_decay": 0.0},) if name == "sgd" else ()):
            params = {"W1": torch.zeros(2, requires_grad=True)}
            assert _same(optim.make_optimizer(params, name, 2e-3, **kw), p3.make_optimizer(params, name, 2e-3, **kw))
    assert _same(optim.make_optimizer(w(), "nesterov", 0.1, momentum=0.9, weight_decay=5e-4),
                 torch.optim.SGD(w(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4))  # the CNN recipe
    model = _model()
    assert _same(optim.make_optimizer(_groups(model, 1.5, 1e-3, 64.0), "nesterov", 1.5, momentum=0.85),
                 torch.optim.SGD(_groups(model, 1.5, 1e-3, 64.0), lr=1.5, momentum=0.85, nesterov=True))
    assert _same(optim.make_optimizer(_groups(model, 3e-3, 0.0, 1.0), "adamw", 3e-3),
                 torch.optim.AdamW(_groups(model, 3e-3, 0.0, 1.0), lr=3e-3))


def test_engine_optimizer_per_recipe():
    """The GPU engine: Nesterov SGD for the CIFAR-10 recipes, AdamW for the digits' CNN, as before."""
    from reference.cifar import cnn, engine, fast, resnet

    for module, dataset, old in ((cnn, "cifar10", "nesterov"), (resnet, "cifar10", "nesterov"),
                                 (fast, "cifar10", "nesterov"), (cnn, "mnist", "adamw")):
        hp = module.hyper_for(dataset)
        model = _model()
        built = engine.make_optimizer(model, hp)
        groups = [g for g in _groups(model, hp.lr, hp.weight_decay, hp.norm_lr_scale) if g["params"]]
        expected = (torch.optim.SGD(groups, lr=hp.lr, momentum=hp.momentum, nesterov=True) if old == "nesterov"
                    else torch.optim.AdamW(groups, lr=hp.lr))
        assert hp.optimizer == old and _same(built, expected)


def test_no_other_schedule_or_factory():
    """Outside tpcheck/optim.py, does no project code build a torch scheduler or pick an optimizer
    class by name? (Exceptions, each explained where it stands: Part 3's cosine, and its
    make_optimizer, the notebook's given cell.)"""
    allowed = {("reference/tp3_deep.py", "CosineAnnealingLR"), ("reference/tp3_deep.py", "torch.optim.SGD"),
               ("reference/tp3_deep.py", "torch.optim.Adam"), ("reference/tp3_deep.py", "torch.optim.Adagrad")}
    pattern = re.compile(r"lr_scheduler\.(\w+)|(torch\.optim\.(?:SGD|Adam|AdamW|Adagrad))\b")
    found = set()
    for package in ("reference", "tpcheck", "tpworker", "autograder"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel == "tpcheck/optim.py":
                continue
            for line in path.read_text(encoding="utf-8").splitlines():
                for m in pattern.finditer(line):
                    found.add((rel, m.group(1) or m.group(2)))
    assert found - allowed == set(), found - allowed
