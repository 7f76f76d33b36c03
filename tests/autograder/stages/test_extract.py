"""Stage 1: what is extracted from a notebook, and the named errors for files that are not one."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder.stages.extract import ExtractError, extract, read_notebook


def write(tmp_path, cells, name="tp.ipynb"):
    path = tmp_path / name
    nbformat.write(new_notebook(cells=cells), str(path))
    return path


def test_keeps_definitions_imports_and_constants_only(tmp_path):
    """Are training loops, prints and plots left out, and the last definition kept?"""
    path = write(tmp_path, [
        new_markdown_cell("# TP"),
        new_code_cell("import torch\n%matplotlib inline\nfrom tpcheck import check"),
        new_code_cell("def forward(params, x):\n    return x @ params['W']"),
        new_code_cell("ETA = 0.1\nparams = init()\nfor epoch in range(100):\n    train()\nprint('done')"),
        new_code_cell("def forward(params, x):\n    return x @ params['W'] + params['b']"),
        new_code_cell("def helper(x):\n    return x\ncheck('forward')"),
    ])
    ex = extract(read_notebook(path), ("forward", "update"))
    assert ex.defined == ["forward", "helper"] and ex.missing == ["update"]
    assert "params['b']" in ex.code and "ETA = 0.1" in ex.code
    assert "train()" not in ex.code and "print" not in ex.code and "init()" not in ex.code
    namespace: dict = {}
    exec(compile(ex.code, "<x>", "exec"), namespace)  # tpcheck is missing: tolerated
    assert callable(namespace["forward"])


def test_cell_with_a_syntax_error_is_skipped_and_named(tmp_path):
    path = write(tmp_path, [new_code_cell("def forward(params, x):\n    return x @"),
                            new_code_cell("def update(p):\n    return p")])
    ex = extract(read_notebook(path), ("forward", "update"))
    assert ex.defined == ["update"] and ex.missing == ["forward"]
    assert len(ex.skipped_cells) == 1 and ex.skipped_cells[0].startswith("cell 1") and "SyntaxError" in ex.skipped_cells[0]


@pytest.mark.parametrize("content,message", [
    (b"", "is empty"),
    (b"   \n", "is empty"),
    (b'{"cells": [', "JSON is malformed"),
    (b"import torch\ndef forward(params, x):\n    return x\n", "is Python source, not a notebook"),
    (b'{"hello": 1}', "not a Jupyter notebook"),
])
def test_files_that_are_not_notebooks_get_a_named_error(tmp_path, content, message):
    path = tmp_path / "tp.ipynb"
    path.write_bytes(content)
    with pytest.raises(ExtractError, match=message):
        read_notebook(path)


def test_notebook_of_another_assignment(tmp_path):
    path = write(tmp_path, [new_code_cell("def sigmoid(a):\n    pass\ndef backward(p, c, t):\n    pass")])
    with pytest.raises(ExtractError, match="looks like tp2_shallow's"):
        extract(read_notebook(path), ("forward", "update", "predict"),
                other_assignments={"tp2_shallow": ("sigmoid", "backward", "update")})


STUB = ('def forward(params, x, lr=0.1, dtype=torch.float32):\n    """Doc."""\n    # YOUR CODE HERE\n'
        '    raise NotImplementedError()')
DONE = "def update(p):\n    return p"


@pytest.mark.parametrize("cells, stubs", [
    ([STUB, DONE], ["forward"]),
    ([STUB.replace("NotImplementedError()", "NotImplementedError"), DONE], ["forward"]),
    ([STUB.replace("NotImplementedError()", "NotImplementedError('à faire')"), DONE], ["forward"]),
    ([STUB, DONE.replace("return p", "raise NotImplementedError()")], ["forward", "update"]),
    ([STUB, "def forward(params, x):\n    return x"], []),  # filled in a later cell: the last def wins
    ([STUB, "def impl(params, x):\n    return x\nforward = impl"], []),  # rebound by an assignment
    (["import functools\n@functools.lru_cache\n" + STUB], []),  # a decorator may replace it
    ([STUB.replace("lr=0.1", "lr=pick()")], []),  # a default that calls something
    ([STUB.replace("raise NotImplementedError()", "print('hi')\n    raise NotImplementedError()")], []),
    ([STUB.replace("NotImplementedError()", "NotImplementedError(answer())")], []),
    ([STUB.replace("NotImplementedError()", "ValueError()")], []),
    (["NotImplementedError = StopIteration", STUB], []),  # the name itself rebound
    (["from builtins import *", STUB], []),
    (["async " + STUB], []),
])
def test_unfilled_template_stubs_are_recognised(tmp_path, cells, stubs):
    """A graded function counts as an untouched stub (graded without a worker) only when it can
    do nothing but raise NotImplementedError."""
    path = write(tmp_path, [new_code_cell("import torch")] + [new_code_cell(c) for c in cells])
    assert extract(read_notebook(path), ("forward", "update")).stubs == stubs
