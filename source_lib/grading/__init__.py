"""The checks that test cells call, and what they are built from.

The grading engine (the judge, the kernel sandbox, nbgrader's plugins) is the
separate package ``softsign_grader``; this package holds what a student's test
cell runs, and what the judge runs of it. Its modules, by job:

- The exercises: :mod:`~source_lib.grading.registry` (every graded function, its
  notebook, check, reference and doors, in one place),
  :mod:`~source_lib.grading.exercises` (the checks test cells import),
  :mod:`~source_lib.grading.elementwise` and
  :mod:`~source_lib.grading.network_exercise` (their references, cases and models
  of mistakes).
- How a check works: :mod:`~source_lib.grading.framework` (calling the student's
  function, comparing, the check decorator), :mod:`~source_lib.grading.withholding`
  (the library's own implementations withheld while the student's function runs),
  :mod:`~source_lib.grading.cases` (the inputs), :mod:`~source_lib.grading.arithmetic`
  and :mod:`~source_lib.grading.replay` (one check run in two places: planned here,
  answered by the kernel).
- What a student reads: :mod:`~source_lib.grading.messages` (the failure record and
  its message), :mod:`~source_lib.grading.formatting` (how values and fields read),
  :mod:`~source_lib.grading.hints` and :mod:`~source_lib.grading.mistakes`.
- :mod:`~source_lib.grading.collector`: calling the student's functions in the kernel
  and returning plain data (the judge runs its source there).
"""
