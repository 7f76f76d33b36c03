"""The students' check package, as the instructor's environment provides it.

Students get a standalone copy in ``student_template/tpcheck/`` (written by
``python -m autograder release``: the same modules, no reference). Here, in the environment
where nbgrader validates and autogrades the course's notebooks, the same names come from the
project's packages, so the notebooks' ``from tpcheck import check`` works in both.
"""

from autograder.student import check

__all__ = ["check"]
