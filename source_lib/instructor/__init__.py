"""Tools for the course's instructors.

:mod:`source_lib.instructor.report` builds the class report
(``softsign-grade report softsign``): what the class got wrong, at a glance.
"""
