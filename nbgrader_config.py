"""nbgrader configuration for the softsign course.

Instructor notebooks live in ``solutions/`` and are released to ``notebooks/``.
"""

c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "softsign"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"

# A cell that runs longer than this is interrupted and scores 0 (a student's
# infinite loop must not hold up the class). nbgrader's default is 30 s.
c.Execute.timeout = 10
# Put back grade cells a student deleted, so deleting a test cannot earn points.
c.OverwriteCells.add_missing_cells = True

# The course's grading extensions (source_lib/grading/nbgrader_plugins.py): the judge
# decides every test cell outside the student's kernel, which runs in a sandbox; a
# notebook that is not valid JSON scores 0 without stopping the rest of the
# submission; feedback shows the checks' messages, without hidden tests or tracebacks.
from source_lib.grading.nbgrader_plugins import register  # noqa: E402

register(c)

# The student release keeps the outputs of the teaching cells (figures, tables), so a
# notebook reads before it runs; solution, test and try-it cells are cleared as before
# (source_lib/instructor/release.py). Only generate_assignment is affected.
from source_lib.instructor.release import release_preprocessors  # noqa: E402

c.GenerateAssignment.preprocessors = release_preprocessors()
