"""The training DAG of one language pack: the pipeline as a picture, wiring only.

preflight -> importers (parallel) -> leakage -> alphabet -> lm -> train -> optimize_lm -> test ->
export -> transcribe -> package -> report -> record_release (decoder tuning on dev comes before test,
so that the test set is only ever used to report). Each step runs in a container (SttStepOperator);
artifact paths travel through XCom; run parameters are validated with JSON Schema when a run is
triggered; the last task tells the release watcher which Common Voice release is now trained on.
"""

from __future__ import annotations

from typing import Any, Dict, List

from airflow.sdk import DAG, Param, TaskGroup, chain
from stt_pipeline.pipeline_steps import AFTER_IMPORT, CORPORA, PREFLIGHT, STAGES, PipelineStep, import_task_id
from stt_pipeline.release_watcher import release_asset, training_dag_id
from stt_pipeline.step_operator import SttStepOperator
from stt_pipeline.watcher_dag import record_release_task
from stt_tasks.parameters import PARAMETERS


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
        description="absolute path, on the Docker host, of a checkpoint folder to fine-tune from (mounted "
        "read-only at /transfer-checkpoint); empty: train from scratch",
        type=["null", "string"],
        # Docker refuses a relative bind source; "/" alone would be the whole host. The title shows in
        # the trigger form and in the refusal's message.
        pattern="^(/[^/].*)?$",
        title="transfer_checkpoint: an absolute host path (/...), or empty",
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
    """``--option=VALUE`` per run parameter: one argument, so that an empty value (no decoder tuning)
    stays ``--lm-evaluate-range=`` instead of an option the operator's empty-argument rule would orphan."""
    return ["{}={{{{ params.{} }}}}".format(PARAMETERS[name].option, name) for name in names]


def _upstream_path(option: str, task_id: str, key: str) -> str:
    """``--option=PATH``, PATH from the upstream task's result; ``--option=`` (the step's default) without one.

    A task skipped by ``stop_after`` renders its command before its operator skips it, and its upstream may
    have been skipped already (``test`` runs after a skipped ``optimize_lm``: trigger rule none_failed): the
    render must not fail on the missing result then. One argument, not two: the operator drops empty
    arguments, which would leave the option without its value.
    """
    return "{}={{{{ (ti.xcom_pull(task_ids='{}') or {{}}).get('{}', '') }}}}".format(option, task_id, key)


def _step_task(step: PipelineStep, language: str, **kwargs: Any) -> SttStepOperator:
    arguments = [step.cli, "--data-root", "/mnt", "--language", language] + _options(step.parameters)
    for option, task_id, key in step.inputs:
        arguments.append(_upstream_path(option, task_id, key))
    for option, name in step.extra:
        arguments.append("{}={{{{ params.{} }}}}".format(option, name))
    for flag, name in step.flags:
        arguments.append("{{{{ '{}' if params.{} else '' }}}}".format(flag, name))
    return SttStepOperator(
        task_id=step.task_id,
        step_arguments=arguments,
        kind=step.kind,
        path_lists=step.path_lists,
        downloads_with=step.downloads_with,
        **kwargs,
    )


def _import_task(corpus: str, language: str) -> SttStepOperator:
    arguments = ["import", corpus, "--data-root", "/mnt", "--language", language] + _options(["english_compatible"])
    downloads_with = ""
    if corpus == "common-voice":  # gated: a person places the release in sources/
        arguments += _options(["duplicate_sentence_count"])
    else:
        arguments.append("{{ '--download' if params.download else '' }}")
        downloads_with = "download"
    return SttStepOperator(
        task_id=import_task_id(corpus), step_arguments=arguments, kind="cpu", corpus=corpus,
        downloads_with=downloads_with,
    )


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
        preflight = _step_task(PREFLIGHT, language)
        with TaskGroup("importers", tooltip="one task per corpus, in parallel") as importers:
            for corpus in CORPORA:
                _import_task(corpus, language)
        trigger_rules = {"leakage": "none_failed_min_one_success", "test": "none_failed"}
        later = [_step_task(step, language, trigger_rule=trigger_rules.get(step.task_id, "all_success")) for step in AFTER_IMPORT]
        chain(preflight, importers, *later, record_release_task(language))
    return dag

