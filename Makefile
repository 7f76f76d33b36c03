# The two commands of the README. Each sets up what it needs itself (scripts/setup.sh).
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test setup benchmark

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh

# Main job on the embedded default: train every MNIST part's reference on mnist-sample.
demo: $(STAMP)
	$(PY) benchmarks/mnist_reference.py --dataset mnist-sample

# The test suite (CI runs exactly this, through .ci/run).
test: $(STAMP)
	$(PY) -m pytest

benchmark: $(STAMP)
	$(PY) benchmarks/mnist_reference.py --dataset mnist
