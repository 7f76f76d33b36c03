"""Visible checks and data for the course's notebooks (released by `python -m autograder release`).

    from tpcheck import check
    check("forward")
"""

from .student import check

__all__ = ["check"]
