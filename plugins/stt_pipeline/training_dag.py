"""The training DAG of one language pack: the pipeline as a picture, wiring only.

preflight -> importers (parallel) -> leakage -> alphabet -> lm -> train -> optimize_lm -> test ->
export -> transcribe -> package -> report -> keep_model -> record_release (decoder tuning on dev comes before test,
so that the test set is only ever used to report). Every task is a row of the step table
(``stt_tasks.steps``) run in a container (SttStepOperator); artifact paths travel through XCom; run
parameters are validated with JSON Schema when a run is triggered; the last task tells the release
watcher which Common Voice release is now trained on.
"""

from __future__ import annotations

from typing import Dict

from airflow.sdk import DAG, Param, TaskGroup, chain
from stt_pipeline.release_watcher import release_asset, training_dag_id
from stt_pipeline.step_operator import SttStepOperator
from stt_pipeline.watcher_dag import record_release_task
from stt_tasks import steps


def run_params() -> Dict[str, Param]:
    """Every run parameter of the step table, as the trigger form's fields."""
    params = {}
    for name, parameter in steps.run_parameters().items():
        origin = " (original {})".format(parameter.env) if parameter.env and not parameter.env.startswith("STT_") else ""
        params[name] = Param(parameter.typed_default(), description=parameter.help + origin,
                             schema=dict(parameter.schema))
    return params


def build_training_dag(language: str = "fr") -> DAG:
    """The training DAG of ``language``, scheduled by new Common Voice releases or run by hand."""
    with DAG(
        dag_id=training_dag_id(language),
        description="Train, evaluate and package a {} Coqui STT model".format(language),
        schedule=[release_asset(language)],
        max_active_runs=1,
        catchup=False,
        params=run_params(),
        tags=["stt", language],
        doc_md=__doc__,
    ) as dag:
        preflight = SttStepOperator(step=steps.PREFLIGHT, language=language)
        with TaskGroup("importers", tooltip="one task per corpus, in parallel") as importers:
            for step in steps.import_steps():
                SttStepOperator(step=step, language=language)
        later = [SttStepOperator(step=step, language=language) for step in steps.AFTER_IMPORT]
        chain(preflight, importers, *later, record_release_task(language))
    return dag
