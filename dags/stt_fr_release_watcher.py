"""Airflow DAG: schedule French retraining on new Common Voice releases (see stt_pipeline.watcher_dag)."""

from stt_pipeline.watcher_dag import build_release_watcher_dag

dag = build_release_watcher_dag("fr")
