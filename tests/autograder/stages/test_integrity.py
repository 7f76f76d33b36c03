"""Which code gets an integrity flag, and does the flag name the student's own cell and line?"""

from __future__ import annotations

import nbformat
import pytest

from autograder.report import class_report_html
from autograder.results import Graded
from autograder.stages.extract import extract

HONEST = '''import torch
from tpcheck import check
from tpcheck.data import load, one_hot

def forward(params, x):
    """y = x W + b"""
    # a comment, then the line
    return x @ params["W"] + params["b"]
'''

FLAGGED = {
    "torch._C": ("def forward(params, x):\n    with torch._C.DisableTorchFunction():\n        return x\n", "torch._C"),
    "computed getattr": ("def forward(params, x):\n    f = getattr(torch, 'li' + 'near')\n    return f(x)\n", "non-literal"),
    "__import__": ("def forward(params, x):\n    m = __import__('torch.nn')\n    return x\n", "__import__"),
    "importlib": ("import importlib\ndef forward(params, x):\n    return x\n", "importlib"),
    "exec": ("def forward(params, x):\n    exec('y = 1')\n    return x\n", "exec"),
    "eval": ("def forward(params, x):\n    return eval('x')\n", "eval"),
    "compile": ("def forward(params, x):\n    c = compile('1', 's', 'eval')\n    return x\n", "compile"),
    "ctypes": ("import ctypes\ndef forward(params, x):\n    return x\n", "ctypes"),
    "gc": ("def forward(params, x):\n    import gc\n    gc.get_objects()\n    return x\n", "gc"),
    "sys.modules": ("import sys\nclass _Patch:\n    sys.modules['tpworker'] = None\n", "sys.modules"),
    "/proc": ("def forward(params, x):\n    open('/proc/1/environ').read()\n    return x\n", "/proc"),
    "tpworker": ("def forward(params, x):\n    import tpworker.worker as w\n    return x\n", "tpworker"),
    "tpcheck internals": ("from tpcheck.forbidden import CallRecorder\ndef forward(params, x):\n    return x\n",
                          "tpcheck.forbidden"),
    "frames": ("import sys\ndef forward(params, x):\n    sys._getframe(1).f_globals['x'] = 0\n    return x\n", "_getframe"),
    "subclasses": ("def forward(params, x):\n    ().__class__.__base__.__subclasses__()\n    return x\n", "__subclasses__"),
}


def notebook(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# TP")] + [nbformat.v4.new_code_cell(s) for s in sources]
    return nb


def test_honest_code_has_no_flag():
    """Does a notebook using only the course's imports stay unflagged?"""
    assert extract(notebook(HONEST), ("forward",)).flags == []


@pytest.mark.parametrize("name", sorted(FLAGGED))
def test_each_way_around_a_scan_is_flagged(name):
    """Is each construct flagged, in the cell and on the line where the student wrote it?"""
    source, word = FLAGGED[name]
    flags = extract(notebook(HONEST, source), ("forward",)).flags
    assert flags, name
    assert any(word in f.what or word in f.code for f in flags), flags
    first = flags[0]
    assert first.cell == 3  # the markdown cell counts: cell numbers are the notebook's
    assert source.splitlines()[first.line - 1].strip() == first.code


def test_only_code_that_runs_is_flagged():
    """Is a training cell (not kept, never run in the sandbox) left out, and an overridden definition too?"""
    nb = notebook("exec('print(1)')\nresult = eval('2')", "def forward(params, x):\n    return eval('x')\n",
                  "def forward(params, x):\n    return x\n")
    assert extract(nb, ("forward",)).flags == []


def test_flags_reach_the_class_report():
    """Does report.html list a flagged submission with its line, escaped?"""
    flags = [f.to_json() for f in extract(notebook(FLAGGED["exec"][0].replace("'y = 1'", "'<b>'")), ("forward",)).flags]
    page = class_report_html([Graded("mallory", "tp1_perceptron", [], 12.0, flags=flags),
                              Graded("alice", "tp1_perceptron", [], 12.0)])
    assert "Integrity flags" in page and "mallory" in page and "runs code built at run time (exec)" in page
    assert "&lt;b&gt;" in page and "<b>" not in page.split("Integrity flags")[1].split("</table>")[0]
