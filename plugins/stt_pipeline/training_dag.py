"""The training DAG of one language pack: the pipeline as a picture, wiring only.

preflight -> importers (parallel) -> leakage -> alphabet -> lm -> train -> optimize_lm -> test ->
export -> transcribe -> package -> report (decoder tuning on dev comes before test, so that the test
set is only ever used to report). Each step runs in a container (SttStepOperator);
artifact paths travel through XCom; run parameters are validated with JSON Schema when a run is
triggered.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Dict, List

from airflow.sdk import DAG, Asset, Param, TaskGroup, chain
from stt_pipeline import deployment
from stt_pipeline.step_operator import SttStepOperator
from stt_pipeline.pipeline_steps import AFTER_IMPORT, CORPORA, PREFLIGHT, STAGES, PipelineStep, import_task_id
from stt_tasks.parameters import PARAMETERS

def release_asset(language: str) -> Asset:
    """The Asset the release watcher updates when a new Common Voice release is ready."""
    return Asset("stt://{}/common-voice/release".format(language))


def run_params() -> Dict[str, Param]:
    """Every parameter of the original image (from stt_tasks' table) plus the run's choices."""
    params = {
        name: Param(p.typed_default(), description="{} (original {})".format(p.help, p.env), schema=dict(p.schema))
        for name, p in PARAMETERS.items()
    }
    params["corpora"] = Param(
        list(CORPORA),
        description="corpora to import; one whose archive is not in sources/ (and not downloaded) is skipped",
        type="array",
        items={"type": "string", "enum": list(CORPORA)},
        minItems=1,
        uniqueItems=True,
    )
    params["download"] = Param(
        False, description="download open corpora absent from sources/ (Common Voice is always placed by hand)", type="boolean"
    )
    params["transfer_checkpoint"] = Param(
        None,
        description="host folder of a checkpoint to fine-tune from (mounted read-only at /transfer-checkpoint)",
        type=["null", "string"],
    )
    params["lm_texts"] = Param(
        [],
        description="extra LM text files, relative to the data root (e.g. sources/my_text.txt.xz)",
        type="array",
        items={"type": "string", "pattern": "^[^/].*"},
    )
    params["lm_memory"] = Param(
        "85%", description="memory KenLM's lmplz may use to sort n-grams (e.g. 85% or 8G)", type="string",
        pattern="^[0-9]+(%|[kKmMgGtT])?$",
    )
    params["stop_after"] = Param(
        "",
        description="stop the run after this stage (e.g. 'alphabet' for data preparation only); empty: run all",
        type="string",
        enum=[""] + list(STAGES),
    )
    return params


def _options(names) -> List[str]:
    arguments: List[str] = []
    for name in names:
        arguments += [PARAMETERS[name].option, "{{{{ params.{} }}}}".format(name)]
    return arguments


def _step_task(step: PipelineStep, language: str, **kwargs: Any) -> SttStepOperator:
    arguments = [step.cli, "--data-root", "/mnt", "--language", language] + _options(step.parameters)
    for option, task_id, key in step.inputs:
        arguments += [option, "{{{{ ti.xcom_pull(task_ids='{}')['{}'] }}}}".format(task_id, key)]
    for option, name in step.extra:
        arguments += [option, "{{{{ params.{} }}}}".format(name)]
    for flag, name in step.flags:
        arguments.append("{{{{ '{}' if params.{} else '' }}}}".format(flag, name))
    return SttStepOperator(
        task_id=step.task_id, step_arguments=arguments, kind=step.kind, path_lists=step.path_lists, **kwargs
    )


def _import_task(corpus: str, language: str) -> SttStepOperator:
    arguments = ["import", corpus, "--data-root", "/mnt", "--language", language] + _options(["english_compatible"])
    if corpus == "common-voice":
        arguments += _options(["duplicate_sentence_count"])
    else:
        arguments.append("{{ '--download' if params.download else '' }}")
    return SttStepOperator(task_id=import_task_id(corpus), step_arguments=arguments, kind="cpu", corpus=corpus)


def build_training_dag(language: str = "fr") -> DAG:
    """The training DAG of ``language``, scheduled by new Common Voice releases or run by hand."""
    with DAG(
        dag_id="stt_{}_training".format(language),
        description="Train, evaluate and package a {} Coqui STT model".format(language),
        schedule=[release_asset(language)],
        max_active_runs=1,
        catchup=False,
        params=run_params(),
        default_args={
            "retry_delay": timedelta(seconds=deployment.retry_delay_seconds()),
            "retry_exponential_backoff": True,
        },
        tags=["stt", language],
        doc_md=__doc__,
    ) as dag:
        preflight = _step_task(PREFLIGHT, language)
        with TaskGroup("importers", tooltip="one task per corpus, in parallel") as importers:
            for corpus in CORPORA:
                _import_task(corpus, language)
        trigger_rules = {"leakage": "none_failed_min_one_success", "test": "none_failed"}
        later = [_step_task(step, language, trigger_rule=trigger_rules.get(step.task_id, "all_success")) for step in AFTER_IMPORT]
        chain(preflight, importers, *later)
    return dag

