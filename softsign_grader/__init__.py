"""The grading engine of the softsign course: what instructors and nbgrader run.

Students never install it: their release is :mod:`source_lib` and the notebooks.
This package may import :mod:`source_lib`; :mod:`source_lib` never imports it.

- Grading a notebook: :mod:`~softsign_grader.judge` (verdicts outside the
  student's kernel), :mod:`~softsign_grader.sandbox` and
  :mod:`~softsign_grader.limits` (the bubblewrap kernel and its control group),
  :mod:`~softsign_grader.edition` (the kernel's edition of ``source_lib``, which withholds
  the graded functions),
  :mod:`~softsign_grader.submission` (the one vetted reader of a submission),
  :mod:`~softsign_grader.reading`, :mod:`~softsign_grader.repair`,
  :mod:`~softsign_grader.notices`, :mod:`~softsign_grader.feedback` and
  :mod:`~softsign_grader.nbgrader_plugins` (nbgrader's extension points).
- Running a term: :mod:`~softsign_grader.cli` (``softsign-grade``, one command with
  subcommands), :mod:`~softsign_grader.course` (the course folder, its gradebook),
  :mod:`~softsign_grader.release`, :mod:`~softsign_grader.student_release`,
  :mod:`~softsign_grader.report`, :mod:`~softsign_grader.lms`,
  :mod:`~softsign_grader.exchange`, :mod:`~softsign_grader.late`,
  :mod:`~softsign_grader.sample_class` and :mod:`~softsign_grader.demo`.
- Grading a class in parallel or on a cluster: :mod:`~softsign_grader.grading` (one run),
  :mod:`~softsign_grader.fingerprint` (what decides a grade), :mod:`~softsign_grader.shards`,
  :mod:`~softsign_grader.staging`, :mod:`~softsign_grader.worker`,
  :mod:`~softsign_grader.pool`, :mod:`~softsign_grader.merge`,
  :mod:`~softsign_grader.summary`, :mod:`~softsign_grader.run_lock` and
  :mod:`~softsign_grader.nbgrader_log`; :mod:`~softsign_grader.parallel_grading`
  re-exports them for older scripts.
"""
