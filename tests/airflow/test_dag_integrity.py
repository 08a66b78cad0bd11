"""The DAGs load, have the pipeline's shape, and refuse bad run parameters."""

from __future__ import annotations

import copy

import pytest

from stt_tasks.parameters import PARAMETERS

PIPELINE = ["leakage", "alphabet", "lm", "gpu_preflight", "train", "optimize_lm", "test", "export", "transcribe",
            "package", "report", "keep_model", "record_release"]
IMPORTERS = [
    "importers.common_voice",
    "importers.lingua_libre",
    "importers.trainingspeech",
    "importers.african_accented_french",
    "importers.m_ailabs",
    "importers.mls",
    "importers.ccpmf",
]


def test_no_import_errors_and_fast_parse(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dags) == {"stt_fr_training", "stt_fr_release_watcher"}
    assert dagbag.parse_seconds < 10  # a DAG file that is slow to parse blocks the dag-processor


def test_training_dag_shape(dagbag):
    dag = dagbag.dags["stt_fr_training"]
    tasks = {t.task_id: t for t in dag.tasks}
    assert set(tasks) == {"preflight"} | set(IMPORTERS) | set(PIPELINE)
    for importer in IMPORTERS:
        # parallel: each importer hangs between preflight and alphabet only
        assert tasks[importer].upstream_task_ids == {"preflight"}
        assert tasks[importer].downstream_task_ids == {"leakage"}
        assert tasks[importer].task_group.group_id == "importers"
    assert tasks["leakage"].upstream_task_ids == set(IMPORTERS)
    for before, after in zip(PIPELINE, PIPELINE[1:]):
        assert tasks[after].upstream_task_ids == {before}
    assert dag.max_active_runs == 1
    assert tasks["leakage"].trigger_rule == "none_failed_min_one_success"  # absent corpora are skipped
    assert tasks["train"].retries >= 1 and tasks["train"].execution_timeout.days >= 1
    assert tasks["record_release"].trigger_rule == "all_success"  # only a finished run counts as trained


def test_retries_back_off_per_step_kind(dagbag):
    from stt_pipeline.pipeline_steps import CPU, DOWNLOAD, KINDS, TRAINING

    tasks = {t.task_id: t for t in dagbag.dags["stt_fr_training"].tasks}
    expected = {
        "preflight": CPU,
        "importers.common_voice": CPU,  # never downloads (a person places the release)
        "importers.mls": DOWNLOAD,  # downloads with the run's `download`: planned as a download
        "lm": DOWNLOAD,
        "alphabet": CPU,
        "train": TRAINING,
        "test": TRAINING,
        "export": CPU,
    }
    for task_id, kind in expected.items():
        task, limits = tasks[task_id], KINDS[kind]
        assert task.retries == limits.retries, task_id
        assert task.execution_timeout == limits.execution_timeout, task_id
        assert task.max_retry_delay == limits.max_retry_delay, task_id
        assert task.retry_delay == limits.retry_delay, task_id  # (no STT_RETRY_DELAY_SECONDS here)
        # 2.0: the delay doubles; True (= 1.0 in Airflow 3) would keep it constant
        assert task.retry_exponential_backoff == 2.0, task_id
    assert KINDS[DOWNLOAD].retries > KINDS[CPU].retries
    assert KINDS[DOWNLOAD].retry_delay > KINDS[CPU].retry_delay


def test_every_original_parameter_is_a_documented_param(dagbag):
    params = dagbag.dags["stt_fr_training"].params
    for name, parameter in PARAMETERS.items():
        assert name in params
        assert params.get_param(name).value == parameter.typed_default()
        if parameter.env and not parameter.env.startswith("STT_"):
            assert "(original {})".format(parameter.env) in params.get_param(name).description
    for name in ("corpora", "download", "transfer_checkpoint", "stop_after", "lm_texts", "lm_memory"):
        assert params.get_param(name).description


def test_the_defaults_validate_as_they_are(dagbag):
    """What the trigger form submits untouched: every default valid, optional ones empty (null)."""
    validated = dagbag.dags["stt_fr_training"].params.validate()
    assert validated["lm_evaluate_range"] is None and validated["stop_after"] is None
    assert validated["lm_texts"] is None and validated["transfer_checkpoint"] is None
    assert validated["corpora"][0] == "common-voice" and len(validated["corpora"]) == 7


@pytest.mark.parametrize(
    "name,value",
    [
        ("batch_size", 0),
        ("epochs", "many"),
        ("learning_rate", 0),
        ("dropout", 1.0),
        ("n_hidden", -5),
        ("beam_width", 0),
        ("lm_alpha", -1),
        ("lm_beta", "x"),
        ("lm_top_k", 0),
        ("lm_add_excluded_max_sec", "yes"),
        ("amp", "yes please"),
        ("early_stop", 3),
        ("english_compatible", "no"),
        ("lm_evaluate_range", "5,5"),
        ("duplicate_sentence_count", 0),
        ("corpora", ["common-voice", "youtube"]),
        ("corpora", []),
        ("stop_after", "lunch"),
        ("transfer_checkpoint", 42),
        ("transfer_checkpoint", "checkpoints/en"),  # relative: Docker needs a host path
        ("transfer_checkpoint", "/"),
        ("train_cudnn", "maybe"),
        ("train_cudnn", 1.5),
        ("download", "yes"),
        ("download", 1),
        ("lm_texts", ["/etc/passwd"]),
        ("lm_memory", "lots"),
    ],
)
def test_bad_values_are_refused_with_the_parameter_name(dagbag, name, value):
    from airflow.sdk.definitions.param import ParamValidationError

    params = copy.deepcopy(dagbag.dags["stt_fr_training"].params)
    with pytest.raises(ParamValidationError, match="param {}".format(name)):
        params[name] = value


def test_transfer_checkpoint_refusal_says_what_is_expected(dagbag):
    from airflow.sdk.definitions.param import ParamValidationError

    params = copy.deepcopy(dagbag.dags["stt_fr_training"].params)
    with pytest.raises(ParamValidationError, match="an absolute host path"):
        params["transfer_checkpoint"] = "checkpoints/en"


def test_good_values_are_accepted(dagbag):
    params = copy.deepcopy(dagbag.dags["stt_fr_training"].params)
    params["lm_evaluate_range"] = "5,5,600"
    params["corpora"] = ["common-voice", "mls"]
    params["stop_after"] = "alphabet"
    params["transfer_checkpoint"] = "/srv/checkpoints/en-1.0.0"
    params["transfer_checkpoint"] = ""
    params["transfer_checkpoint"] = None
    params["train_cudnn"] = "auto"
    params["train_cudnn"] = False
    params["download"] = True
    params["dropout"] = 0.25
    params["lm_texts"] = ["sources/extra.txt.xz"]
    validated = params.validate()
    assert (validated["lm_evaluate_range"], validated["corpora"], validated["stop_after"]) == (
        "5,5,600", ["common-voice", "mls"], "alphabet")
    assert validated["transfer_checkpoint"] is None and validated["train_cudnn"] is False
    assert validated["download"] is True and validated["dropout"] == 0.25
    assert validated["lm_texts"] == ["sources/extra.txt.xz"]


def test_watcher_emits_the_training_dags_asset(dagbag):
    watcher = dagbag.dags["stt_fr_release_watcher"]
    training = dagbag.dags["stt_fr_training"]
    outlets = watcher.get_task("check_release").outlets
    assert [a.uri for a in outlets] == ["stt://fr/common-voice/release"]
    assert "stt://fr/common-voice/release" in str(training.timetable.asset_condition)


def test_a_corpus_and_a_parameter_added_to_the_tables_reach_the_dag(tmp_path, monkeypatch):
    """One corpus module (named in STT_CORPUS_MODULES) and one Parameter with its name in a step's table
    entry: the DAG gets the importer task, the corpora choice, the Param and the step's option; nothing
    else is edited."""
    import dataclasses

    from stt_pipeline.training_dag import build_training_dag
    from stt_tasks import steps
    from stt_tasks.parameters import Parameter, _positive_int
    from tests.importers.test_registry import add_tiny_corpus

    add_tiny_corpus(tmp_path, monkeypatch)
    patience = Parameter("es_patience", "ES_PATIENCE", "25", _positive_int, "epochs without improvement before the "
                         "early stop", {"type": "integer", "exclusiveMinimum": 0}, coqui=("es_epochs",))
    monkeypatch.setitem(PARAMETERS, "es_patience", patience)
    monkeypatch.setattr(steps, "AFTER_IMPORT", tuple(
        dataclasses.replace(spec, parameters=spec.parameters + ("es_patience",)) if spec.name == "train" else spec
        for spec in steps.AFTER_IMPORT))

    dag = build_training_dag("fr")
    tiny = dag.get_task("importers.tiny")
    assert tiny.upstream_task_ids == {"preflight"} and tiny.downstream_task_ids == {"leakage"}
    assert tiny.run_kind({"download": True}) == "download"  # it declares itself downloadable
    corpora = dag.params.get_param("corpora")
    assert "tiny" in corpora.schema["items"]["enum"] and "tiny" in corpora.value
    assert dag.params.get_param("es_patience").value == 25 and "(original ES_PATIENCE)" in \
        dag.params.get_param("es_patience").description
    assert "--es-patience=7" in dag.get_task("train").command_for(dict(dag.params.dump(), es_patience=7), _NoResults())


class _NoResults:
    def xcom_pull(self, task_ids):
        return None


_QUEUES = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
tasks = bag.dags["stt_fr_training"].tasks if "stt_fr_training" in bag.dags else []
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()},
                  "tasks": {t.task_id: [t.queue, t.executor] for t in tasks}}))
"""


def parsed_queues(airflow_db, **settings: str) -> dict:
    """The training DAG's tasks' (queue, executor), parsed in a fresh process with these settings."""
    import json
    import os
    import subprocess
    import sys

    from tests.airflow.conftest import REPO

    env = {name: value for name, value in os.environ.items() if name != "STT_GPU_QUEUE"}
    env.update(settings)
    done = subprocess.run([sys.executable, "-c", _QUEUES, str(REPO / "dags")], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, check=True)
    parsed = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert parsed["errors"] == {}, parsed["errors"]
    return parsed["tasks"]


TRAINING_TASKS = {"gpu_preflight", "train", "optimize_lm", "test"}  # the data root check runs where they run


def test_without_a_gpu_queue_every_task_is_on_the_default_queue_and_executor(airflow_db):
    tasks = parsed_queues(airflow_db)
    assert TRAINING_TASKS <= set(tasks)
    assert {tuple(value) for value in tasks.values()} == {("default", None)}


def test_with_a_gpu_queue_the_training_steps_go_to_the_edge_executor(airflow_db):
    tasks = parsed_queues(airflow_db, STT_GPU_QUEUE="gpu",
                          AIRFLOW__CORE__EXECUTOR="LocalExecutor,airflow.providers.edge3.executors.EdgeExecutor")
    on_gpu = {task for task, (queue, executor) in tasks.items() if (queue, executor) == ("gpu", "EdgeExecutor")}
    assert on_gpu == TRAINING_TASKS
    assert all(tuple(tasks[task]) == ("default", None) for task in set(tasks) - TRAINING_TASKS)
