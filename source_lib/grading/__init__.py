"""Grading: the judge, the checks' plumbing, the kernel sandbox and the nbgrader plugins."""
