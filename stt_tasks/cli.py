"""``python -m stt_tasks <step>``: the command-line contract between Airflow and a step.

- Inputs are options; ``--data-root`` (default ``$STT_DATA_ROOT``, else ``/mnt``) and ``--language``
  (default ``fr``) are common to every step. Run parameters keep the original image's names in
  kebab-case and can also be set by their upper-case environment variable.
- Progress goes to stderr; the **last line on stdout is one JSON object** naming the artifacts
  (DockerOperator pushes the last output line as XCom, so nothing is printed after it).
- Exit codes: 0 done; 2 bad input or usage (the message names the file and the fix);
  99 an optional input is absent, nothing to do (the task is skipped); anything else a failure.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from stt_tasks import __version__
from stt_tasks.errors import EXIT_BAD_INPUT, EXIT_OK, StepError
from stt_tasks.importers.registry import CORPUS_MODULES, listing, prepare_function
from stt_tasks.languages import load_language
from stt_tasks.layout import DataRoot
from stt_tasks.parameters import PARAMETERS, add_parameter_options, resolve_parameters
from stt_tasks.progress import LOG, configure_logging

Step = Callable[[argparse.Namespace, DataRoot, Dict[str, Any]], Dict[str, Any]]

#: Upstream artifacts a step takes as ``--<name> PATH`` (the DAG passes the upstream task's result). Each
#: name is also the step function's argument and the DataRoot property of its default.
INPUTS: Dict[str, str] = {
    "alphabet": "the alphabet step's alphabet (default models/alphabet.txt)",
    "scorer": "the lm step's scorer package (default lm/kenlm.scorer when present, else none)",
    "model": "the export step's TFLite model (default models/output_graph.tflite)",
    "model_zip": "the export step's model zip (default models/<language pack's zip name>.zip)",
    "test_summary": "the test step's summary (default models/test_summary.json)",
    "test_output": "the test step's per-clip output (default: the one the test summary names)",
    "training": "the train step's result (default checkpoints/training.json)",
    "tuning": "the optimize-lm step's tuning (default lm/opt_lm.json)",
}


def _inputs(args: argparse.Namespace, root: DataRoot) -> Dict[str, Optional[Path]]:
    """The upstream artifacts given to the step, checked; None where not given (empty included): the default."""
    return {name: root.given_input(getattr(args, name), "--" + name.replace("_", "-"),
                                   getattr(root, name, Path("the step's default")))
            for name in args.inputs}


def _preflight(args: argparse.Namespace, root: DataRoot, params: Dict[str, Any]) -> Dict[str, Any]:
    from stt_tasks.preflight import preflight

    result = preflight(root, expected_hours=args.expected_hours, require_gpu=args.require_gpu)
    if args.smoke_train:
        from stt_tasks.training.smoke import preflight_smoke_train

        result.update(preflight_smoke_train(root.tmp / "smoke-train", epochs=args.smoke_epochs))
    return result


def _import_common_voice(args: argparse.Namespace, root: DataRoot, params: Dict[str, Any]) -> Dict[str, Any]:
    from stt_tasks.importers.common_voice import prepare_common_voice

    return prepare_common_voice(
        root,
        load_language(args.language),
        english_compatible=params["english_compatible"],
        duplicate_sentence_count=params["duplicate_sentence_count"],
        release=args.release,
        sha256=args.sha256,
        strict=args.strict,
        workers=args.workers,
    ).as_json()


def _corpus_step(corpus: str) -> Step:
    """A step running the corpus's ``prepare_*`` with the common import options."""

    def step(args: argparse.Namespace, root: DataRoot, params: Dict[str, Any]) -> Dict[str, Any]:
        result = prepare_function(corpus)(
            root,
            load_language(args.language),
            english_compatible=params["english_compatible"],
            download=args.download,
            workers=args.workers,
            mirror=args.mirror,
        )
        return result.as_json()  # type: ignore[no-any-return]

    return step


IMPORTERS: Dict[str, Step] = {
    "common-voice": _import_common_voice,
    **{corpus: _corpus_step(corpus) for corpus in CORPUS_MODULES},
}


def _import(args: argparse.Namespace, root: DataRoot, params: Dict[str, Any]) -> Dict[str, Any]:
    if args.list:
        rows = listing(load_language(args.language), root)
        for row in rows:
            LOG.info("%-24s %-7s %-58s %s", row["corpus"], "present" if row["present"] else "absent", row["archive"], row["url"])
        return {"corpora": rows}
    return IMPORTERS[args.corpus](args, root, params)


def _leakage(args: argparse.Namespace, root: DataRoot, params: Dict[str, Any]) -> Dict[str, Any]:
    from stt_tasks.importers.leakage import write_leakage_report

    return write_leakage_report(root)


def _alphabet(args: argparse.Namespace, root: DataRoot, params: Dict[str, Any]) -> Dict[str, Any]:
    from stt_tasks.alphabet import build_alphabet

    return build_alphabet(root, load_language(args.language), english_compatible=params["english_compatible"])


def _lm(args: argparse.Namespace, root: DataRoot, params: Dict[str, Any]) -> Dict[str, Any]:
    from stt_tasks.importers.engine import available_workers
    from stt_tasks.lm.step import LmOptions, build_lm

    options = LmOptions(
        texts=tuple(Path(t) for t in args.text),
        download=args.download,
        memory=args.memory,
        top_k=params["lm_top_k"],
        english_compatible=params["english_compatible"],
        alpha=params["lm_alpha"],
        beta=params["lm_beta"],
        keep_eval_sentences=args.keep_eval_sentences,
        workers=args.workers or available_workers(),
        rebuild_scorer=args.rebuild_scorer,
        alphabet=root.given_input(args.alphabet, "--alphabet", root.alphabet),
        add_too_long=params["lm_add_excluded_max_sec"],
    )
    return build_lm(root, load_language(args.language), options)


def _sample_corpus(args: argparse.Namespace, root: DataRoot, params: Dict[str, Any]) -> Dict[str, Any]:
    from stt_tasks.sample_corpus import build_sample_corpus

    return build_sample_corpus(Path(args.dest).absolute(), load_language(args.language), bad_clips=not args.clean)


def _train(args: argparse.Namespace, root: DataRoot, params: Dict[str, Any]) -> Dict[str, Any]:
    from stt_tasks.training.train import train

    return train(root, params, transfer_dir=Path(args.transfer_checkpoint) if args.transfer_checkpoint else None,
                 **_inputs(args, root))


def _test(args: argparse.Namespace, root: DataRoot, params: Dict[str, Any]) -> Dict[str, Any]:
    from stt_tasks.training.evaluate import test

    return test(root, params, **_inputs(args, root))


def _export(args: argparse.Namespace, root: DataRoot, params: Dict[str, Any]) -> Dict[str, Any]:
    from stt_tasks.training.export import export

    return export(root, load_language(args.language), params, frozen_pb=args.pb, quantize=not args.no_quantize,
                  **_inputs(args, root))


def _transcribe(args: argparse.Namespace, root: DataRoot, params: Dict[str, Any]) -> Dict[str, Any]:
    from stt_tasks.training.transcribe import TOLERANCE, transcribe_dev

    return transcribe_dev(root, params, max_clips=args.max_clips,
                          tolerance=TOLERANCE if args.tolerance is None else args.tolerance, **_inputs(args, root))


def _optimize_lm(args: argparse.Namespace, root: DataRoot, params: Dict[str, Any]) -> Dict[str, Any]:
    from stt_tasks.training.optimize import optimize_lm

    return optimize_lm(root, params, **_inputs(args, root))


def _package(args: argparse.Namespace, root: DataRoot, params: Dict[str, Any]) -> Dict[str, Any]:
    from stt_tasks.package import package

    return package(root, load_language(args.language), params, **_inputs(args, root))


def _report(args: argparse.Namespace, root: DataRoot, params: Dict[str, Any]) -> Dict[str, Any]:
    from stt_tasks.report import build_report

    return build_report(root, load_language(args.language), **_inputs(args, root))


def _params(args: argparse.Namespace, root: DataRoot, params: Dict[str, Any]) -> Dict[str, Any]:
    return {"parameters": params}


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-root", default=None, help="data root (default $STT_DATA_ROOT, else /mnt)")
    common.add_argument("--language", default="fr", help="language pack (default fr)")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")

    parser = argparse.ArgumentParser(prog="stt-tasks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=__version__)
    steps = parser.add_subparsers(dest="step", metavar="STEP")
    steps.required = True

    def step(name: str, function: Step, help: str, parameters: Sequence[str] = (),
             inputs: Sequence[str] = ()) -> argparse.ArgumentParser:
        sub = steps.add_parser(name, parents=[common], help=help, description=help)
        add_parameter_options(sub, parameters)
        for input_name in inputs:
            sub.add_argument("--" + input_name.replace("_", "-"), default=None, metavar="PATH",
                             help=INPUTS[input_name])
        sub.set_defaults(function=function, parameters=list(parameters), inputs=list(inputs))
        return sub

    sub = step("preflight", _preflight, "create and check the data root, disk space and GPU")
    sub.add_argument("--expected-hours", type=float, default=None, help="hours of audio to plan disk for")
    sub.add_argument("--require-gpu", action="store_true", help="fail when no GPU is visible")
    sub.add_argument("--smoke-train", action="store_true",
                     help="train on a synthesised clip until stt transcribes it, about 20 s (training images only)")
    sub.add_argument("--smoke-epochs", type=int, default=3, help="epochs of 64 steps of the smoke training (default 3)")

    sub = step(
        "import", _import, "import a corpus into extracted/data/", ["english_compatible", "duplicate_sentence_count"]
    )
    sub.add_argument("corpus", nargs="?", choices=sorted(IMPORTERS), help="corpus to import")
    sub.set_defaults(import_parser=sub)
    sub.add_argument("--list", action="store_true", help="list the corpora, whether their source is present, their URL")
    sub.add_argument("--download", action="store_true", help="download the archive when it is not in sources/")
    sub.add_argument("--mirror", default=None, help="download from this base URL instead ($STT_CORPUS_MIRROR)")
    sub.add_argument("--release", default=None, help="Common Voice: tarball or folder name in sources/ (default newest)")
    sub.add_argument("--sha256", default=None, help="expected SHA-256 of the archive (overrides the known one)")
    sub.add_argument("--strict", action="store_true", help="refuse releases without a known SHA-256")
    sub.add_argument("--workers", type=int, default=None, help="conversion processes (default: every core)")

    step("leakage", _leakage, "report speakers and sentences shared between train and dev/test sets")

    step("alphabet", _alphabet, "write models/alphabet.txt from the imported transcripts", ["english_compatible"])

    sub = step(
        "lm",
        _lm,
        "build the language model (KenLM) and the scorer package into lm/",
        ["lm_top_k", "english_compatible", "lm_alpha", "lm_beta", "lm_add_excluded_max_sec"],
    )
    sub.add_argument("--text", nargs="+", default=[], metavar="FILE", help="extra LM text (.xz, .gz, .bz2 or plain)")
    sub.add_argument("--download", action="store_true", help="fetch the language pack's LM corpora missing in sources/")
    sub.add_argument("--memory", default="85%", help="lmplz sorting memory, e.g. 85%% or 8G (default 85%%)")
    sub.add_argument(
        "--rebuild-scorer", action="store_true", help="only re-package the scorer (new --lm-alpha/--lm-beta)"
    )
    sub.add_argument(
        "--keep-eval-sentences", action="store_true", help="keep LM lines equal to a dev/test transcript"
    )
    sub.add_argument("--workers", type=int, default=None, help="normalisation processes (default: every core)")
    sub.add_argument("--alphabet", default=None, help="alphabet of the scorer (default models/alphabet.txt)")

    sub = step("sample-corpus", _sample_corpus, "synthesise a small corpus in the Common Voice layout")
    sub.add_argument("--dest", required=True, help="folder for the release tarball and LM text")
    sub.add_argument("--clean", action="store_true", help="leave out the deliberately bad clips")

    training = ["batch_size", "epochs", "learning_rate", "dropout", "n_hidden", "early_stop", "amp", "train_cudnn",
                "enable_augments", "augmentation_arguments", "cache_for_epochs", "feature_cache", "skip_batch_test",
                "log_level"]
    decoder = ["batch_size", "beam_width", "lm_alpha", "lm_beta"]
    sub = step("train", _train, "train (or resume) the acoustic model on every *train.csv/*dev.csv", training,
               inputs=["alphabet"])
    sub.add_argument("--transfer-checkpoint", default=None,
                     help="checkpoint to fine-tune from (default $STT_TRANSFER_CHECKPOINT, else /transfer-checkpoint)")
    step("test", _test, "WER/CER of the best checkpoint on every *test.csv (and the dev clips)", decoder,
         inputs=["alphabet", "scorer"])
    sub = step("export", _export, "export the best checkpoint to TFLite, metadata and the model zip", ["beam_width",
               "lm_alpha", "lm_beta"], inputs=["alphabet", "scorer"])
    sub.add_argument("--pb", action="store_true", help="also export a frozen TensorFlow graph (output_graph.pb)")
    sub.add_argument("--no-quantize", action="store_true", help="export float weights instead of int8")
    sub = step("transcribe", _transcribe, "transcribe the dev clips with the exported model in the stt runtime",
               ["beam_width", "lm_alpha", "lm_beta"], inputs=["model", "scorer", "test_summary"])
    sub.add_argument("--max-clips", type=int, default=None, help="transcribe at most this many dev clips")
    sub.add_argument("--tolerance", type=float, default=None, help="largest accepted WER difference (default 0.05)")

    step("optimize-lm", _optimize_lm, "tune lm_alpha/lm_beta on the dev sets (LM_EVALUATE_RANGE)",
         ["lm_evaluate_range", "batch_size", "beam_width"], inputs=["alphabet", "scorer"])
    step("package", _package, "model and checkpoint archives, the model zip and a model card",
         inputs=["model", "alphabet", "scorer", "model_zip", "test_summary", "training", "tuning"])
    step("report", _report, "HTML report with plots of the corpora, the training and the results",
         inputs=["test_summary", "test_output", "training", "tuning"])

    step("params", _params, "print the effective run parameters", list(PARAMETERS))
    return parser


def emit_result(result: Dict[str, Any]) -> None:
    """Print the step's result as the last stdout line."""
    sys.stderr.flush()
    sys.stdout.write(json.dumps(result, sort_keys=True, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.step == "import" and not args.corpus and not args.list:
        args.import_parser.error("name a corpus to import, or pass --list")  # exits 2 with the usage
    configure_logging(logging.DEBUG if args.verbose else logging.INFO)
    try:
        params = resolve_parameters(args, args.parameters)
    except ValueError as error:
        LOG.error("invalid parameter: %s", error)
        return EXIT_BAD_INPUT
    root = DataRoot.from_env(args.data_root)
    try:
        result = args.function(args, root, params)
    except StepError as error:
        LOG.error("%s", error)
        return error.exit_code
    emit_result(result)
    return EXIT_OK
