"""The sandbox's entry point: ``python -m tpworker.worker`` is the driver (:mod:`tpworker.driver`).

Started by :mod:`autograder.stages.sandbox` inside bubblewrap with the packages ``tpworker`` and
``tpcheck`` mounted read-only (torch, numpy and safetensors are their only other imports).
Requests arrive on one inherited pipe and answers leave on another (their numbers in
``$TP_FDS``), each an 8-byte length then a :mod:`tpworker.wire` message. The driver runs the
submission in a process of its own (:mod:`tpworker.student`); nothing either says is trusted by
the grader, which re-checks every answer.
"""

from __future__ import annotations

import sys

from .driver import main

if __name__ == "__main__":
    sys.exit(main())
