"""nbgrader configuration of the course (this folder is the course root).

The project's release command (`python -m autograder release`) runs `nbgrader
generate_assignment` on a temporary copy of this folder and writes the released notebooks to
../student_template/; plain nbgrader works here too (`nbgrader generate_assignment tp1_perceptron`,
`nbgrader autograde`, `nbgrader export`). The gradebook database and nbgrader's own folders
(release/, submitted/, autograded/, feedback/) are not committed.

`nbgrader generate_assignment NAME` writes, beside the released notebook, the example bank its
visible checks replay (examples.npz) and the students' package (tpcheck-<version>-py3-none-any.whl):
autograder/course/ship.py's preprocessor, registered below, builds them from reference/ and
tpcheck/. The repository (this folder's parent) is put on sys.path for it.
"""

import sys
from pathlib import Path

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import ClearHiddenTests, GetGrades

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "tp-reseaux-de-neurones"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"

# Torch warnings and tqdm bars go to stderr: they must never cost a test cell its points.
c.ExecutePreprocessor.timeout = 600
c.Execute.interrupt_on_timeout = True

# Students never see hidden tests, in the released notebook or in the generated feedback
# (plain generate_feedback shows them: nbgrader#917).
c.ClearHiddenTests.enforce_metadata = True
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]

# The late policy, for `nbgrader autograde` and `autograder grade` alike: 10 % of the points per
# started day late (autograder/course/late.py). Due dates and extensions live in the gradebook
# (`nbgrader db assignment add tp1_perceptron --duedate="2026-12-01 23:59:00 Europe/Paris"`).
c.AssignLatePenalties.plugin_class = "autograder.course.late.PerDayPenalty"
c.PerDayPenalty.percent_per_day = 10

# Last, so that the settings above hold even where autograder cannot be imported.
_repository = Path(__file__).resolve().parent.parent
if (_repository / "autograder" / "course" / "ship.py").is_file() and str(_repository) not in sys.path:
    sys.path.insert(0, str(_repository))

from autograder.course import ship  # noqa: E402 - needs the repository on sys.path

ship.register(c)
