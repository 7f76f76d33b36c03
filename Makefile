# The two commands of the README are `make demo` and `make test`; each sets up what it needs
# itself (scripts/setup.sh). The others are the course's and the maintainers' tools.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint validate release sync setup benchmark reference examples gradescope clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh scripts/constraints.txt
	bash scripts/setup.sh

# Main job on the embedded default: grade the example class (examples/submitted: the three MNIST
# assignments, every one that has submissions there), threshold runs on mnist-sample; a summary
# table, then where the pages are.
demo: $(STAMP)
	$(PY) -m autograder grade examples/submitted --out out/demo --jobs 2 --timeout 10 --force

# The whole test suite (CI runs exactly this, after `make lint`, through .ci/run).
test: $(STAMP)
	$(PY) -m pytest

# The unit loop: everything but what trains, runs nbgrader, or needs real MNIST or a GPU (minutes).
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow and not nbgrader and not real_data and not gpu"

# ruff (pyproject.toml's [tool.ruff]) and the zones' import rules (tests/test_imports.py).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q tests/test_imports.py

# The checks checked against the reference, and the reference against its own evidence.
validate: $(STAMP)
	$(PY) -m autograder validate

# The student notebooks, banks and the tpcheck wheel, from assignments/source → student_template/.
release: $(STAMP)
	$(PY) -m autograder release

# The notebooks' solution cells rewritten from reference/.
sync: $(STAMP)
	$(PY) -m autograder sync

# Train every MNIST part's reference on the embedded sample (a table of accuracy and seconds).
reference: $(STAMP)
	$(PY) benchmarks/mnist_reference.py --dataset mnist-sample

# Rebuild examples/submitted/ from the released notebooks.
examples: $(STAMP)
	$(PY) examples/make_examples.py

# Gradescope's autograder zip (gradescope/: setup.sh, run_autograder and the project's source),
# deterministic: `make gradescope ASSIGNMENT=tp1_perceptron` → out/gradescope/tp1_perceptron.zip
# (UNSAFE=1: grade without bubblewrap, see README "Gradescope").
gradescope: $(STAMP)
	$(PY) gradescope/build.py $(if $(ASSIGNMENT),--assignment $(ASSIGNMENT)) $(if $(UNSAFE),--unsafe-no-sandbox)

benchmark: $(STAMP)
	$(PY) benchmarks/mnist_reference.py --dataset mnist

# Run outputs and caches (never the virtualenv: `rm -rf .venv` for that).
clean:
	rm -rf out .pytest_cache .hypothesis .ruff_cache build dist *.egg-info
	find . -path ./.venv -prune -o -name __pycache__ -type d -exec rm -rf {} +
