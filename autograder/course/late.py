"""This course's late policy, an nbgrader late-submission plugin (used by ``nbgrader autograde`` and by
``autograder grade`` alike, through ``assignments/nbgrader_config.py``).

A share of the points earned is taken off per day late, each started day counting whole:
with the default 10 % a day, a submission 1 minute late loses 10 % of its points, one 26 hours
late 20 %, and one 10 days late or more everything. Configure in ``nbgrader_config.py``::

    c.AssignLatePenalties.plugin_class = "autograder.course.late.PerDayPenalty"
    c.PerDayPenalty.percent_per_day = 10

nbgrader's own ``LateSubmissionPlugin`` (``penalty_method = 'none'`` or ``'zero'``) works too.
"""

from __future__ import annotations

import math

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float


class PerDayPenalty(LateSubmissionPlugin):
    """``percent_per_day`` % of the points per started day late, at most all of them."""

    percent_per_day = Float(10.0, help="Share of the points taken off per started day late, in percent").tag(config=True)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float | None:
        if total_seconds_late <= 0:
            return None
        days = math.ceil(total_seconds_late / 86400)
        return min(score, score * days * self.percent_per_day / 100)

    def describe(self) -> str:
        return f"{self.percent_per_day:g} % of the points per started day late"
