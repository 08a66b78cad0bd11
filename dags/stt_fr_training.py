"""Airflow DAG: train the French model (the picture: plugins/stt_pipeline/training_dag.py)."""

from stt_pipeline.training_dag import build_training_dag

dag = build_training_dag("fr")
