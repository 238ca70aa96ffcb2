"""The grading engine of the softsign course: what instructors and nbgrader run.

Students never install it: their release is :mod:`source_lib` and the notebooks.
This package may import :mod:`source_lib`; :mod:`source_lib` never imports it
(``tests/test_architecture.py`` checks both, and that no modules import each
other in a cycle). Its modules, by job:

- Deciding a test cell outside the student's kernel:
  :mod:`~softsign_grader.judge` (the Execute preprocessor that drives the kernel),
  :mod:`~softsign_grader.cell_checks` (a test cell read as check calls) and
  :mod:`~softsign_grader.verdict` (verdicts and the diagnosis record).
- The kernel's sandbox: :mod:`~softsign_grader.sandbox` (the kernel managers),
  :mod:`~softsign_grader.kernel_provisioner` (jupyter_client's provisioner: start,
  clock, clean-up), :mod:`~softsign_grader.bubblewrap` (the ``bwrap`` command),
  :mod:`~softsign_grader.limits` (control groups) and
  :mod:`~softsign_grader.edition` (the kernel's edition of ``source_lib``, which
  withholds the graded functions).
- Reading what students submit: :mod:`~softsign_grader.submission` (the one vetted
  reader), :mod:`~softsign_grader.reading` (notebooks nbgrader cannot read),
  :mod:`~softsign_grader.notices`, and the notebook repairs
  (:mod:`~softsign_grader.repair`, :mod:`~softsign_grader.gradebook_cells`,
  :mod:`~softsign_grader.metadata_repairs`, :mod:`~softsign_grader.cell_matching`).
- nbgrader's extension points: :mod:`~softsign_grader.nbgrader_plugins` (which
  also keeps a TA's grade of an unchanged written answer through a regrade),
  :mod:`~softsign_grader.feedback`, :mod:`~softsign_grader.rubric` (the model
  answer and rubric beside a written answer in formgrader, for graders only),
  :mod:`~softsign_grader.exchange`,
  :mod:`~softsign_grader.collect` and :mod:`~softsign_grader.extract` (``zip_collect``
  from an LMS download, losing nothing), :mod:`~softsign_grader.lms` (the LMS export)
  and :mod:`~softsign_grader.late` (late penalties from the current scores).
- Grading a class in parallel or on a cluster: :mod:`~softsign_grader.grading` (one
  run), :mod:`~softsign_grader.fingerprint` (what decides a grade),
  :mod:`~softsign_grader.shards`, :mod:`~softsign_grader.staging`,
  :mod:`~softsign_grader.worker`, :mod:`~softsign_grader.nbgrader_log` (what
  nbgrader's converter did), :mod:`~softsign_grader.pool`,
  :mod:`~softsign_grader.merge`, :mod:`~softsign_grader.summary` and
  :mod:`~softsign_grader.run_lock`; :mod:`~softsign_grader.parallel_grading`
  re-exports them for older scripts.
- The class report: :mod:`~softsign_grader.report` and its ``report_*`` modules
  (reading, model, tables, advice, figures, page, CSV).
- Feedback for a class in parallel: :mod:`~softsign_grader.feedback_run`.
- Running a term: :mod:`~softsign_grader.cli` (``softsign-grade``, one command with
  subcommands), :mod:`~softsign_grader.course` (the course folder),
  :mod:`~softsign_grader.release`, :mod:`~softsign_grader.student_release`,
  :mod:`~softsign_grader.leaks` and :mod:`~softsign_grader.answer_search` (what
  students receive, and the check that it holds no answer; the search reads the
  release with :mod:`~softsign_grader.answer_sources` and runs what it finds in
  :mod:`~softsign_grader.answer_runner`),
  :mod:`~softsign_grader.sample_class` and :mod:`~softsign_grader.demo`.
"""
