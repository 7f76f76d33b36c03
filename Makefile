# The two commands of the README. Each sets up what it needs itself (scripts/setup.sh).
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test setup benchmark reference examples

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh scripts/constraints.txt
	bash scripts/setup.sh

MNIST_ASSIGNMENTS := --assignment tp1_perceptron --assignment tp2_shallow --assignment tp3_deep

# Main job on the embedded default: grade the example class (examples/submitted) for the three
# MNIST assignments, threshold runs on mnist-sample; a summary table, then where the pages are.
demo: $(STAMP)
	$(PY) -m autograder grade examples/submitted $(MNIST_ASSIGNMENTS) --out out/demo --jobs 2 --timeout 10 --force

# Train every MNIST part's reference on the embedded sample (a table of accuracy and seconds).
reference: $(STAMP)
	$(PY) benchmarks/mnist_reference.py --dataset mnist-sample

# Rebuild examples/submitted/ from the released notebooks.
examples: $(STAMP)
	$(PY) examples/make_examples.py

# The test suite (CI runs exactly this, through .ci/run).
test: $(STAMP)
	$(PY) -m pytest

benchmark: $(STAMP)
	$(PY) benchmarks/mnist_reference.py --dataset mnist
