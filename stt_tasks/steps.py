"""The step table: every step of the pipeline, declared once, in pipeline order.

The CLI (:mod:`stt_tasks.cli`), the training DAG's tasks and Params and the step operator
(``plugins/stt_pipeline``) are generated from :func:`pipeline`; nothing else lists a step's parameters,
inputs or options. Each entry's function receives a :class:`~stt_tasks.stepspec.StepCall` and calls the
domain code (imported on demand, so the CLI stays light).

    preflight -> importers (parallel) -> leakage -> alphabet -> lm -> train -> optimize-lm -> test ->
    export -> transcribe -> package -> report -> keep-model
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from stt_tasks.importers.registry import CorpusSpec, corpora
from stt_tasks.languages import load_language
from stt_tasks.layout import DataRoot
from stt_tasks.parameters import PARAMETERS, Parameter
from stt_tasks.stepspec import CPU, TRAINING, Input, Option, StepCall, StepSpec, first_produced

#: Where the step operator mounts the data root in every container.
DATA_MOUNT = "/mnt"


def _existing(path: Path) -> Optional[Path]:
    return path if path.is_file() else None


# Upstream artifacts. A producer that was skipped (optimize-lm without a range) names nothing, and the
# next producer's artifact is used. Defaults apply only when the option is left out (CLI use).
ALPHABET = Input("alphabet", (("alphabet", "alphabet"),), "the alphabet step's alphabet (default models/alphabet.txt)",
                 lambda root: root.alphabet)
SCORER = Input("scorer", (("optimize-lm", "scorer"), ("lm", "scorer")),
               "scorer package: optimize-lm's tuned one, else the lm step's (default lm/kenlm.scorer when present)",
               lambda root: _existing(root.scorer))
LM_SCORER = Input("scorer", (("lm", "scorer"),), "the lm step's scorer package (default lm/kenlm.scorer when present)",
                  lambda root: _existing(root.scorer))
MODEL = Input("model", (("export", "model"),), "the export step's TFLite model (default models/output_graph.tflite)",
              lambda root: root.model)
MODEL_ZIP = Input("model_zip", (("export", "zip"),), "the export step's model zip (default models/<name>.zip)")
TEST_SUMMARY = Input("test_summary", (("test", "summary"),),
                     "the test step's summary (default models/test_summary.json when present)",
                     lambda root: _existing(root.test_summary))
TEST_OUTPUT = Input("test_output", (("test", "test_output"),),
                    "the test step's per-clip transcripts (default models/test_output.json when present)",
                    lambda root: _existing(root.test_output))
TRAINING_RESULT = Input("training", (("train", "training"),),
                        "the train step's result (default checkpoints/training.json when present)",
                        lambda root: _existing(root.training))
TUNING = Input("tuning", (("optimize-lm", "tuning"),),
               "optimize-lm's result (default lm/opt_lm.json when present)", lambda root: _existing(root.tuning))

# What the report links besides the records above: the optimize-lm study (its trials) and the package step's files.
TUNING_STUDY = Input("tuning_study", (("optimize-lm", "study"),),
                     "optimize-lm's Optuna study, for the trials (default lm/lm_optimizer.sqlite when present)",
                     lambda root: _existing(root.lm / "lm_optimizer.sqlite"))
MODEL_CARD = Input("model_card", (("package", "model_card"),), "the package step's model card")
MODEL_ARCHIVE = Input("model_archive", (("package", "model_archive"),), "the package step's model archive")
CHECKPOINT_ARCHIVE = Input("checkpoint_archive", (("package", "checkpoint_archive"),),
                           "the package step's checkpoint archive")
PACKAGE_ZIP = Input("package_zip", (("package", "model_zip"),), "the package step's copy of the model zip")

#: What the Common Voice import read (its report names the release and the chain of deltas).
RELEASE_REPORT = Input("release_report", (("importers.common-voice", "report"),),
                       "the Common Voice import's report (the release the model is trained on)")

# The run's context (the operator renders it from the Airflow run; by hand: a manual run).
RUN_ID = Option(("--run-id",), "the Airflow run this step belongs to (the report goes to reports/runs/<run id>/; "
                "the kept model records it; default manual)", default="manual")
RUN_STARTED = Option(("--run-started",), "when the run started (ISO 8601; the operator passes it)")

# What the preflight on the Airflow host found (the operator passes them from its result).
DATA_ROOT_TOKEN = Option(("--data-root-token",), "the token preflight wrote in the data root (its result's "
                         "data_root_token)", default="")
TOKEN_WRITTEN_IN = Option(("--token-written-in",), "where that preflight ran: its data root and host (its result's "
                          "token_written_in)", default="the Airflow host")

_WORKERS = Option(("--workers",), "processes (default: every core)", type=int)


def _pack(call: StepCall) -> Any:
    return load_language(call.language)


# --- the steps' functions: from the call to the domain code ---------------------------------------

def _preflight(call: StepCall) -> Dict[str, Any]:
    from stt_tasks.preflight import preflight

    result = preflight(call.root, expected_hours=call.options["expected_hours"],
                       require_gpu=call.options["require_gpu"])
    if call.options["smoke_train"]:
        from stt_tasks.training.smoke import preflight_smoke_train

        result.update(preflight_smoke_train(call.root.tmp / "smoke-train", epochs=call.options["smoke_epochs"]))
    return result


def _gpu_preflight(call: StepCall) -> Dict[str, Any]:
    from stt_tasks.preflight import check_data_root_token

    return check_data_root_token(call.root, call.options["data_root_token"], call.options["token_written_in"])


def _leakage(call: StepCall) -> Dict[str, Any]:
    from stt_tasks.importers.leakage import write_leakage_report

    return write_leakage_report(call.root, warm_start=call.params["warm_start"])


def _alphabet(call: StepCall) -> Dict[str, Any]:
    from stt_tasks.alphabet import build_alphabet

    return build_alphabet(call.root, _pack(call), english_compatible=call.params["english_compatible"])


def _lm(call: StepCall) -> Dict[str, Any]:
    from stt_tasks.importers.engine import available_workers
    from stt_tasks.lm.step import LmOptions, build_lm

    root, params = call.root, call.params
    options = LmOptions(
        texts=tuple(root.root / text for text in params["lm_texts"] or ()),  # relative: under the data root
        download=params["download"],
        memory=params["lm_memory"],
        top_k=params["lm_top_k"],
        english_compatible=params["english_compatible"],
        alpha=params["lm_alpha"],
        beta=params["lm_beta"],
        keep_eval_sentences=call.options["keep_eval_sentences"],
        workers=call.options["workers"] or available_workers(),
        rebuild_scorer=call.options["rebuild_scorer"],
        alphabet=call.input("alphabet"),
        add_too_long=params["lm_add_excluded_max_sec"],
    )
    return build_lm(root, _pack(call), options)


def _sample_corpus(call: StepCall) -> Dict[str, Any]:
    from stt_tasks.sample_corpus import build_sample_corpus

    return build_sample_corpus(Path(call.options["dest"]).absolute(), _pack(call), bad_clips=not call.options["clean"])


def _train(call: StepCall) -> Dict[str, Any]:
    from stt_tasks.training.train import train

    params = dict(call.params)
    transfer = params.pop("transfer_checkpoint")
    return train(call.root, params, transfer_dir=Path(transfer) if transfer else None, alphabet=call.input("alphabet"))


def _optimize_lm(call: StepCall) -> Dict[str, Any]:
    from stt_tasks.training.optimize import optimize_lm

    return optimize_lm(call.root, call.params, alphabet=call.input("alphabet"), scorer=call.input("scorer"))


def _test(call: StepCall) -> Dict[str, Any]:
    from stt_tasks.training.evaluate import test

    return test(call.root, call.params, alphabet=call.input("alphabet"), scorer=call.input("scorer"))


def _export(call: StepCall) -> Dict[str, Any]:
    from stt_tasks.training.export import export

    return export(call.root, _pack(call), call.params, frozen_pb=call.options["pb"],
                  quantize=not call.options["no_quantize"], alphabet=call.input("alphabet"),
                  scorer=call.input("scorer"))


def _transcribe(call: StepCall) -> Dict[str, Any]:
    from stt_tasks.training.transcribe import TOLERANCE, transcribe_dev

    tolerance = call.options["tolerance"]
    return transcribe_dev(call.root, call.params, max_clips=call.options["max_clips"],
                          tolerance=TOLERANCE if tolerance is None else tolerance, model=call.input("model"),
                          scorer=call.input("scorer"), test_summary=call.input("test_summary"))


def _package(call: StepCall) -> Dict[str, Any]:
    from stt_tasks.package import package

    return package(call.root, _pack(call), call.params, **call.inputs)


def _report(call: StepCall) -> Dict[str, Any]:
    from stt_tasks.report import build_report

    return build_report(call.root, _pack(call), call.params, run_id=call.options["run_id"],
                        run_started=call.options["run_started"], **call.inputs)


def _keep_model(call: StepCall) -> Dict[str, Any]:
    from stt_tasks.training.warm_start import keep_model

    return keep_model(call.root, call.input("checkpoint_archive"), call.input("training"),
                      call.input("release_report"), run_id=call.options["run_id"])


def _params(call: StepCall) -> Dict[str, Any]:
    return {"parameters": dict(call.params)}


def _import_corpus(corpus: CorpusSpec) -> Any:
    def run(call: StepCall) -> Dict[str, Any]:
        return corpus.run(call.root, _pack(call), dict(call.params, **call.options))

    return run


# --- the table --------------------------------------------------------------------------------------

_DECODER = ("batch_size", "beam_width", "lm_alpha", "lm_beta")
_TRAINING = ("batch_size", "epochs", "learning_rate", "dropout", "n_hidden", "early_stop", "amp", "train_cudnn",
             "enable_augments", "augmentation_arguments", "cache_for_epochs", "feature_cache", "skip_batch_test",
             "log_level", "transfer_checkpoint", "warm_start", "warm_start_epochs", "warm_start_learning_rate", "gpus")

PREFLIGHT = StepSpec(
    "preflight", "create and check the data root, disk space and GPU", _preflight,
    options=(
        Option(("--expected-hours",), "hours of audio to plan disk for", type=float),
        Option(("--require-gpu",), "fail when no GPU is visible", action="store_true", default=False),
        Option(("--smoke-train",), "train on a synthesised clip until stt transcribes it, about 20 s (training "
               "images only)", action="store_true", default=False),
        Option(("--smoke-epochs",), "epochs of 64 steps of the smoke training (default 3)", type=int, default=3),
    ),
    outputs=("data_root",))

AFTER_IMPORT: Tuple[StepSpec, ...] = (
    # speakers and sentences shared between train and dev/test: fails when our own splits leak
    StepSpec("leakage", "report speakers and sentences shared between train and dev/test sets", _leakage,
             parameters=("warm_start",), trigger_rule="none_failed_min_one_success", outputs=("report",)),
    StepSpec("alphabet", "write models/alphabet.txt from the imported transcripts", _alphabet,
             parameters=("english_compatible",), outputs=("alphabet",)),
    StepSpec(
        "lm", "build the language model (KenLM) and the scorer package into lm/", _lm,
        parameters=("lm_top_k", "english_compatible", "lm_alpha", "lm_beta", "lm_add_excluded_max_sec", "lm_texts",
                    "lm_memory", "download"),
        options=(
            Option(("--rebuild-scorer",), "only re-package the scorer (new --lm-alpha/--lm-beta)",
                   action="store_true", default=False),
            Option(("--keep-eval-sentences",), "keep LM lines equal to a dev/test transcript", action="store_true",
                   default=False),
            _WORKERS,
        ),
        inputs=(ALPHABET,), outputs=("scorer",), downloads_with="download"),
    # on the host of the training steps (a GPU worker): fails in seconds when it sees another data root
    StepSpec("gpu-preflight", "check that the training steps' host sees the data root preflight wrote its token in",
             _gpu_preflight, options=(DATA_ROOT_TOKEN, TOKEN_WRITTEN_IN),
             run_context=("data_root_token", "token_written_in"), outputs=("data_root",), kind=TRAINING),
    StepSpec("train", "train (or resume) the acoustic model on every *train.csv/*dev.csv", _train,
             parameters=_TRAINING, inputs=(ALPHABET,), outputs=("training",), kind=TRAINING),
    # tunes lm_alpha/lm_beta on the dev sets (never on test) into its own scorer package
    StepSpec("optimize-lm", "tune lm_alpha/lm_beta on the dev sets (LM_EVALUATE_RANGE) into lm/tuned/kenlm.scorer",
             _optimize_lm, parameters=("lm_evaluate_range", "batch_size", "beam_width", "gpus"),
             inputs=(ALPHABET, LM_SCORER), outputs=("scorer", "tuning"), kind=TRAINING, runs_if="lm_evaluate_range"),
    # after the decoder tuning, so that test reports on test with the tuned alpha/beta
    StepSpec("test", "WER/CER of the best checkpoint on every *test.csv (and the dev clips)", _test,
             parameters=_DECODER + ("gpus",), inputs=(ALPHABET, SCORER), outputs=("summary", "test_output"),
             kind=TRAINING,
             trigger_rule="none_failed"),
    StepSpec(
        "export", "export the best checkpoint to TFLite, metadata and the model zip", _export,
        parameters=("beam_width", "lm_alpha", "lm_beta"),
        options=(
            Option(("--pb",), "also export a frozen TensorFlow graph (output_graph.pb)", action="store_true",
                   default=False),
            Option(("--no-quantize",), "export float weights instead of int8", action="store_true", default=False),
        ),
        inputs=(ALPHABET, SCORER), outputs=("model", "metadata", "zip")),
    # the exported model in the stt runtime must agree with the checkpoint (guards the TFLite export)
    StepSpec(
        "transcribe", "transcribe the dev clips with the exported model in the stt runtime", _transcribe,
        parameters=("beam_width", "lm_alpha", "lm_beta"),
        options=(
            Option(("--max-clips",), "transcribe at most this many dev clips", type=int),
            Option(("--tolerance",), "largest accepted WER difference (default 0.05)", type=float),
        ),
        inputs=(MODEL, SCORER, TEST_SUMMARY), outputs=("output",)),
    StepSpec("package", "model and checkpoint archives, the model zip and a model card", _package,
             inputs=(MODEL, ALPHABET, SCORER, MODEL_ZIP, TEST_SUMMARY, TRAINING_RESULT, TUNING),
             outputs=("model_archive", "checkpoint_archive", "model_zip", "model_card")),
    StepSpec("report", "HTML report of the run (reports/runs/<run id>/) with plots of the corpora, the training, "
             "the decoder tuning and the results", _report,
             parameters=tuple(name for name, parameter in PARAMETERS.items() if not parameter.mount),
             options=(RUN_ID, RUN_STARTED), run_context=("run_id", "run_started"),
             inputs=(TEST_SUMMARY, TEST_OUTPUT, TRAINING_RESULT, TUNING, TUNING_STUDY, MODEL_CARD, MODEL_ARCHIVE,
                     CHECKPOINT_ARCHIVE, PACKAGE_ZIP),
             outputs=("report", "run_report", "summary")),
    # the model a later warm_start=previous fine-tunes from, with the runs and releases it descends from
    StepSpec("keep-model", "keep this run's model in models/previous/ for a later warm start (warm_start=previous)",
             _keep_model, options=(RUN_ID,), run_context=("run_id",),
             inputs=(CHECKPOINT_ARCHIVE, TRAINING_RESULT, RELEASE_REPORT), outputs=("previous",)),
)

TOOLS: Tuple[StepSpec, ...] = (
    StepSpec("sample-corpus", "synthesise a small corpus in the Common Voice layout", _sample_corpus,
             options=(Option(("--dest",), "folder for the release tarball and LM text", required=True),
                      Option(("--clean",), "leave out the deliberately bad clips", action="store_true",
                             default=False)),
             in_dag=False),
    StepSpec("params", "print the effective run parameters", _params, parameters=tuple(PARAMETERS), in_dag=False),
)


def import_step(corpus: CorpusSpec) -> StepSpec:
    """The import step of one corpus: a task of the importers group, skipped when not in ``corpora``."""
    return StepSpec(
        "import", "import {} into extracted/data/".format(corpus.name), _import_corpus(corpus),
        parameters=corpus.parameters, options=corpus.options, outputs=("report",), kind=CPU,
        downloads_with="download" if corpus.downloadable else "", runs_if_listed=("corpora", corpus.name),
        words=("import", corpus.name), id=corpus.name.replace("-", "_"), group="importers", stage_name="import")


def import_steps() -> Tuple[StepSpec, ...]:
    return tuple(import_step(corpus) for corpus in corpora().values())


def pipeline() -> Tuple[StepSpec, ...]:
    """Every task of the training DAG, in order (the importers side by side after preflight)."""
    return (PREFLIGHT,) + import_steps() + AFTER_IMPORT


def stages() -> Tuple[str, ...]:
    """The stages ``stop_after`` can name, in order."""
    names: List[str] = []
    for spec in pipeline():
        if spec.stage not in names:
            names.append(spec.stage)
    return tuple(names)


def run_parameters() -> Dict[str, Parameter]:
    """Every parameter of a run: the steps' (``PARAMETERS``) and the run's own choices."""
    names = list(corpora())
    choices = dict(PARAMETERS)
    choices["corpora"] = Parameter(
        "corpora", "", ",".join(names), lambda text: text.split(",") if isinstance(text, str) else list(text),
        "corpora to import; one whose archive is not in sources/ (and not downloaded) is skipped",
        {"type": "array", "items": {"type": "string", "enum": names}, "minItems": 1, "uniqueItems": True},
        multiple=True)
    choices["stop_after"] = Parameter(
        "stop_after", "", "", lambda text: text or None,
        "stop the run after this stage (e.g. 'alphabet' for data preparation only); empty: run all",
        {"type": ["null", "string"], "enum": [None] + list(stages())})
    return choices


def skip_reason(spec: StepSpec, params: Mapping[str, Any]) -> Optional[str]:
    """Why the DAG skips ``spec`` in a run with ``params``, or None when it runs."""
    stop_after = params.get("stop_after")
    order = stages()
    if stop_after and order.index(spec.stage) > order.index(stop_after):
        return "the run stops after {!r}".format(stop_after)
    listed, value = spec.runs_if_listed
    if listed and value not in (params.get(listed) or []):
        return "{!r} is not in this run's {}".format(value, listed)
    if spec.runs_if and not params.get(spec.runs_if):
        return "no {}: {} not asked for".format(spec.runs_if, spec.name)
    return None


def producers(spec: StepSpec) -> Tuple[str, ...]:
    """The steps whose results ``spec`` reads its inputs from."""
    names: List[str] = []
    for input_spec in spec.inputs:
        names += [step for step, _key in input_spec.producers if step not in names]
    return tuple(names)


def task_id_of(step_name: str) -> str:
    return step_name.replace("-", "_")


def command_line(spec: StepSpec, language: str, params: Mapping[str, Any],
                 results: Mapping[str, Optional[Mapping[str, Any]]],
                 run: Optional[Mapping[str, Optional[str]]] = None) -> List[str]:
    """The step's argv in its container: words, data root, language, its run context, parameters, inputs.

    ``results`` are the upstream steps' JSON results by step name (None: skipped). An input no producer
    named is passed empty (``--scorer=``): the step then goes without it, rather than picking up a file
    an earlier run left at the default path. ``run`` is the run's context (``run_id``, ``run_started``)
    by name; a step gets the values its ``run_context`` names (left out when unknown: the CLI default).
    """
    argv = list(spec.command) + ["--data-root", DATA_MOUNT, "--language", language]
    for name in spec.run_context:
        value = (run or {}).get(name)
        if value:
            argv.append("--{}={}".format(name.replace("_", "-"), value))
    for name in spec.parameters:
        argv += PARAMETERS[name].render(params.get(name))
    for input_spec in spec.inputs:
        argv.append("{}={}".format(input_spec.option, first_produced(input_spec, results) or ""))
    return argv


def find(name: str) -> StepSpec:
    """The step called ``name`` (CLI name)."""
    for spec in AFTER_IMPORT + TOOLS + (PREFLIGHT,):
        if spec.name == name:
            return spec
    raise KeyError(name)

