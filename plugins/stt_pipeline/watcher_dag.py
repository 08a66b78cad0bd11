"""The release watcher DAG (emits the training DAG's Asset when a new release is ready), and the
training DAG's last task, which records the release a successful training run was made on.

The watcher's state (see :mod:`stt_pipeline.release_watcher`) lives in one Airflow Variable per
language: the watcher writes what it scheduled or declined, the training DAG what it trained on.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Dict, Optional

from airflow.sdk import DAG, Variable, task
from airflow.sdk.exceptions import AirflowSkipException
from stt_pipeline import deployment
from stt_tasks.importers.registry import corpora
from stt_tasks.steps import import_step
from stt_pipeline.release_watcher import (
    Release,
    decide,
    fetch_metadata,
    newest_release,
    release_asset,
    state_variable,
    trained_state,
    training_dag_id,
    with_delta_hours,
)

LOG = logging.getLogger(__name__)

#: Dag run states in which a scheduled release is still being trained on.
ACTIVE_RUN_STATES = ["queued", "running"]


def _read_state(language: str) -> Dict[str, Any]:
    return json.loads(Variable.get(state_variable(language), default="{}"))


def _published_hours(location: str, delta: Path, language: str, pack: Any) -> Optional[float]:
    """The validated hours a delta adds: from its cv-dataset statistics, else the language pack's table."""
    stem = delta.name[: -len("-{}.tar.gz".format(language))]
    metadata = fetch_metadata(location, Release(delta, stem, (), 0), language)
    if metadata is not None and metadata.valid_hours is not None:
        return metadata.valid_hours
    known = pack.release(delta.name)
    return known.valid_hours if known else None


def build_release_watcher_dag(language: str = "fr") -> DAG:
    """Checks ``sources/`` (hourly by default, ``STT_WATCH_SCHEDULE``) for a new release."""
    asset = release_asset(language)
    with DAG(
        dag_id="stt_{}_release_watcher".format(language),
        description="Schedule {} retraining when a new Common Voice release appears".format(language),
        schedule=os.environ.get("STT_WATCH_SCHEDULE", "@hourly"),
        catchup=False,
        max_active_runs=1,
        tags=["stt", language],
        doc_md=__doc__,
    ) as dag:

        @task(outlets=[asset])
        def check_release(**context: Any) -> Dict[str, Any]:
            from stt_tasks.languages import load_language

            sources = Path(deployment.airflow_data_dir()) / "sources"
            location = deployment.setting("stt_release_metadata_url")
            pack = load_language(language)
            release = newest_release(sources, language)
            metadata = fetch_metadata(location, release, language) if release else None
            known = pack.release(release.filename) if release else None
            if release is not None and release.delta:
                release = with_delta_hours(release, lambda path: _published_hours(location, path, language, pack))
            active = context["ti"].get_dr_count(dag_id=training_dag_id(language), states=ACTIVE_RUN_STATES) > 0
            decision = decide(
                release,
                metadata,
                known.sha256 if known else None,
                _read_state(language),
                float(deployment.setting("stt_min_new_validated_hours")),
                training_active=active,
            )
            if decision.state is not None:
                Variable.set(state_variable(language), json.dumps(decision.state))
            if not decision.schedule:
                raise AirflowSkipException(decision.reason)
            LOG.info("scheduling a training run: %s", decision.reason)
            context["outlet_events"][asset].extra = decision.event
            return decision.event

        check_release()
    return dag


def record_release_task(language: str):
    """The training DAG's last task: record the Common Voice release a successful run trained on (its model
    is kept for a later warm start by the keep-model step before it).

    It runs only when every step before it succeeded (a partial ``stop_after`` run skips it), so a
    failed run leaves the release to be scheduled again by the watcher.
    """
    cv = import_step(corpora()["common-voice"])
    common_voice_task = "{}.{}".format(cv.group, cv.task_id)

    @task(task_id="record_release")
    def record_release(**context: Any) -> Optional[Dict[str, Any]]:
        ti = context["ti"]
        imported = ti.xcom_pull(task_ids=common_voice_task)
        triggering = context["triggering_asset_events"]
        events = [event.extra or {} for event in triggering.get(release_asset(language), [])]
        state = trained_state(_read_state(language), imported, events)
        if state is None:
            raise AirflowSkipException("this run imported no Common Voice release: nothing to record")
        state["trained"]["run_id"] = context["run_id"]
        Variable.set(state_variable(language), json.dumps(state))
        LOG.info("recorded %s as the release of the last successful training", state["trained"]["release"])
        return state["trained"]

    return record_release()
