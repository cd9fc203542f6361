"""The rules of a Batch job, one module per family; :mod:`airflow_batchstream.jobspec.validate` runs
them in the order of its ``RULES`` table.

Each module's checks take the :class:`~airflow_batchstream.jobspec.rules._walk.Context` of one job
and yield its problems; the conditions they report, with severities and sources, are in the
module of the same name under :mod:`airflow_batchstream.jobspec.catalog`. A new rule is its check
here, its line in ``RULES``, its conditions in the catalog, and a passing and a failing case in
``tests/unit/test_validate.py``; the tests say which of these is missing.
"""
