"""The release watcher DAG: emits the training DAG's Asset when a new release is ready."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict

from airflow.sdk import DAG, Variable, task
from airflow.sdk.exceptions import AirflowSkipException
from stt_pipeline import deployment
from stt_pipeline.release_watcher import decide, fetch_metadata, newest_release
from stt_pipeline.training_dag import release_asset


def state_variable(language: str) -> str:
    return "stt_{}_last_release".format(language)


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
            release = newest_release(sources, language)
            last = json.loads(Variable.get(state_variable(language), default="{}"))
            metadata = fetch_metadata(deployment.setting("stt_release_metadata_url"), release, language) if release else None
            known = load_language(language).release(release.filename) if release else None
            decision = decide(
                release,
                metadata,
                known.sha256 if known else None,
                last,
                float(deployment.setting("stt_min_new_validated_hours")),
            )
            if not decision.schedule:
                if decision.event:  # judged and declined: do not hash it again every hour
                    Variable.set(state_variable(language), json.dumps({**last, "declined": decision.event["release"]}))
                raise AirflowSkipException(decision.reason)
            context["outlet_events"][asset].extra = decision.event
            Variable.set(state_variable(language), json.dumps(decision.event))
            return decision.event

        check_release()
    return dag
