"""The course's students' package: visible checks and the data loader (``pip install`` the wheel
that ``python -m autograder release`` builds).

    from tpcheck import check
    check("forward")

It holds no solution and no hidden check, and imports nothing of the grader, the sandbox
package or the reference: those import it. ``check`` and ``report`` are imported on first use,
so that the sandbox worker, which needs only :mod:`tpcheck.boundary` and
:mod:`tpcheck.forbidden`, does not load the visible checks.
"""

__version__ = "0.1.0"  # the wheel's version (autograder/course/release.py builds it)
__all__ = ["check", "report"]


def __getattr__(name: str):
    if name in __all__:
        from . import student

        return getattr(student, name)
    raise AttributeError(f"module 'tpcheck' has no attribute {name!r}")
