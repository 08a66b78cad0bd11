"""Airflow side of stt-fr-pipeline: the step operator, the DAG factories, the release watcher.

Everything that does work runs in containers (``stt_tasks``); this package only decides which
container runs which step with which arguments, and passes artifact paths between steps.
"""
