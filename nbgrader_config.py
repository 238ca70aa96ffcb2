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

# The course's grading extensions (softsign_grader/nbgrader_plugins.py): the judge
# decides every test cell outside the student's kernel, which runs in a sandbox; links
# and FIFOs in a submission are moved aside unread; a notebook nbgrader cannot read or
# sanitize scores 0 without stopping the rest of the submission; feedback shows the
# checks' messages, without hidden tests, tracebacks or any script. In formgrader, each
# written answer has under it, "For graders only", its model answer and rubric: the
# solution region of that cell in the instructor notebook, never shown to students
# (softsign_grader/rubric.py); formgrader's math is MathML, so it reads offline.
from softsign_grader.nbgrader_plugins import register  # noqa: E402

register(c)

# The student release keeps the outputs of the teaching cells (figures, tables), so a
# notebook reads before it runs; solution, test and try-it cells are cleared as before
# (softsign_grader/release.py). Only generate_assignment is affected.
from softsign_grader.release import release_preprocessors  # noqa: E402

c.GenerateAssignment.preprocessors = release_preprocessors()

# --- Exchange (JupyterHub): where release_assignment, fetch_assignment, submit, collect
# and release_feedback meet. Every user must be able to write there (see the README's
# "On a JupyterHub server"). nbgrader's default is /usr/local/share/nbgrader/exchange.
# c.Exchange.root = "/srv/nbgrader/exchange"
# `nbgrader collect` copies regular files only: a student's link, FIFO or device in the
# inbound folder is skipped and logged, never followed (softsign_grader/exchange.py).
c.ExchangeFactory.collect = "softsign_grader.exchange.SafeExchangeCollect"

# --- An LMS download: `nbgrader zip_collect ASSIGNMENT` reads the archive(s) in
# downloaded/ASSIGNMENT/archive/ and writes submitted/<student id>/ASSIGNMENT/. The pattern
# reads Canvas's `doejane_12345_67890_01_softsign_definition.ipynb` and Moodle's
# `Jane Doe_12345_assignsubmission_file_/01_softsign_definition.ipynb` names; the number
# after the name is the student id (softsign_grader/lms.py).
from softsign_grader.lms import LMS_FILE_NAME_PATTERN  # noqa: E402

c.FileNameCollectorPlugin.named_regexp = LMS_FILE_NAME_PATTERN
# A notebook name that is not one of the assignment's (a renamed upload) is matched to the
# release by its cells or name by LmsCollectorPlugin; one that matches none is skipped.
c.ZipCollectApp.strict = True
# A student's `X.ipynb` and `X-1.ipynb` (a Canvas resubmission): the highest number is
# collected and the choice logged, instead of nbgrader stopping for the whole class.
# `softsign-grade collect ASSIGNMENT` runs zip_collect and keeps earlier work (README).
c.ZipCollectApp.collector_plugin = "softsign_grader.collect.LmsCollectorPlugin"
# Archives give regular files and folders only: links, devices and nested archives are
# skipped and logged, files are capped in size and written 0644.
c.ZipCollectApp.extractor_plugin = "softsign_grader.extract.SafeExtractorPlugin"

# --- Late work: 10 % of a notebook's score per started day past the due date (plus the
# student's extension), at most 50 %; no due date, no penalty (softsign_grader/late.py).
c.AssignLatePenalties.plugin_class = "softsign_grader.late.PerDayLatePenalty"
# c.PerDayLatePenalty.fraction_per_day = 0.1
# c.PerDayLatePenalty.max_fraction = 0.5
# `nbgrader export` first brings every late penalty up to date with the current scores
# (manual grades entered after autograding included), then writes nbgrader's own CSV.
c.ExportApp.plugin_class = "softsign_grader.late.LateCsvExportPlugin"

# --- The LMS export (`nbgrader export --exporter=softsign_grader.lms.LmsExportPlugin`):
# name each assignment's total column as the LMS expects it, e.g. Canvas's header.
# c.LmsExportPlugin.column_names = {"softsign": "softsign (12345)"}
# c.LmsExportPlugin.id_column = "ID"
