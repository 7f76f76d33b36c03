"""HTML pages from grading results: one feedback page per student and assignment, one class report.

Both are single self-contained files: inline CSS, figures as base64 PNG ``data:`` URIs, no
external resource, and no script, except the class report's one (``templates/sortable.js``, which
sorts its similarity tables; allowed by its hash in the page's Content-Security-Policy) when it
is given similarity pairs. Everything that comes from a submission (student names, which
are folder names; messages, which quote the student's values; what the student printed) is
untrusted: the pages are rendered by Jinja2 with autoescaping, and the few fragments built in
Python are :class:`markupsafe.Markup` made by ``Markup.format``, which escapes its arguments.

The feedback page speaks French, like the notebooks; the class report, for instructors, English.

One module per job:

- :mod:`~autograder.report.text`: numbers and values as short text, printed output cleaned;
- :mod:`~autograder.report.figures`: the PNG figures (learning curve, confusion matrix, histogram);
- :mod:`~autograder.report.fragments`: counterexamples and check details as HTML fragments;
- :mod:`~autograder.report.render`: the Jinja environment over ``templates/`` (the pages and their CSS);
- :mod:`~autograder.report.feedback`: the student's page, ``OUT/<student>/<assignment>/feedback.html``;
- :mod:`~autograder.report.classreport`: the instructor's page, ``OUT/report.html``.

This package renders results; it never grades (it does not import :mod:`autograder.grade`).
"""

from autograder.report.classreport import (
                                           REPORT_FILE,
                                           CheckStats,
                                           check_stats,
                                           class_report_html,
                                           message_kind,
                                           write_class_report,
)
from autograder.report.feedback import FEEDBACK_FILE, feedback_html, is_threshold, write_feedback
from autograder.report.figures import Png, confusion_png, histogram_png, learning_curve_png, top_confusions
from autograder.report.text import clean_output

__all__ = [
    "FEEDBACK_FILE", "REPORT_FILE", "CheckStats", "Png", "check_stats", "class_report_html", "clean_output",
    "confusion_png", "feedback_html", "histogram_png", "is_threshold", "learning_curve_png", "message_kind",
    "top_confusions", "write_class_report", "write_feedback",
]
