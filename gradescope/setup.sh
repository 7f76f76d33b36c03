#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu; the zip is
# unpacked in /autograder/source). It installs Python 3.11 (the project's version: Ubuntu 22.04's
# own package, else the deadsnakes PPA), bubblewrap (the grader's sandbox), and the project with
# its pinned tools into /autograder/source/.venv, through the project's own scripts/setup.sh.
# torch comes from PyTorch's CPU index (Gradescope has no GPU; the default build pulls CUDA).
set -euo pipefail
cd "$(dirname "$0")"  # /autograder/source: the zip's root is the project's root

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if ! apt-get install -y -qq python3.11 python3.11-venv; then
  apt-get install -y -qq software-properties-common
  add-apt-repository -y ppa:deadsnakes/ppa
  apt-get update -qq
  apt-get install -y -qq python3.11 python3.11-venv
fi
apt-get install -y -qq bubblewrap

export PIP_INDEX_URL=https://download.pytorch.org/whl/cpu PIP_EXTRA_INDEX_URL=https://pypi.org/simple
PYTHON=python3.11 bash scripts/setup.sh
