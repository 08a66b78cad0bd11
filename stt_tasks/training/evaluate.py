"""The test step: WER/CER of the best dev checkpoint on every test CSV, per corpus and overall.

The acoustic model runs once per (checkpoint, CSV) (:mod:`stt_tasks.training.acoustic`; after
optimize-lm the dev CSVs' outputs are already stored), then coqui's decoder decodes the stored outputs
with the decoder settings: the same transcripts as coqui's ``evaluate`` on the same checkpoint. It
decodes the test CSVs **and** the dev CSVs: the test figures are the result;
the dev figures are what the transcribe step compares the exported model against (same clips, same
decoder settings), which catches a faulty TFLite export.

Outputs in ``models/``: ``test_output.json`` (coqui's per-clip samples, as the original image wrote)
and ``test_summary.json`` (per CSV and overall, best/median/worst samples, decoder settings, and the path
of the test output: later steps find the samples through the summary they are given).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from stt_tasks.errors import BadInputError
from stt_tasks.fsio import CompletionMarker, atomic_output, file_fingerprint, remove_stale_siblings, \
    write_json_atomic
from stt_tasks.layout import DataRoot
from stt_tasks.lm.scorer import read_scorer_defaults
from stt_tasks.progress import LOG
from stt_tasks.training import checkpoints as ckpt
from stt_tasks.training.acoustic import acoustic_outputs, pass_summary
from stt_tasks.training.datasets import check_clips_exist, fingerprints, require_csvs, split_csvs, wav_path, wav_paths
from stt_tasks.training.metrics import error_rates

MARKER = ".test.completed.json"
#: Bumped when the summary's content changes for the same inputs (markers of older writers are stale).
WRITER = "test/3"
REPORT_COUNT = 5


def scorer_path(root: DataRoot, given: Optional[Path] = None) -> Optional[Path]:
    """The scorer ``given``, else the one the LM step built, if any (decoding without one is allowed)."""
    if given is not None:
        return given
    return root.scorer if root.scorer.is_file() else None


def decoder_settings(root: DataRoot, params: Mapping[str, Any], scorer: Optional[Path] = None) -> Dict[str, Any]:
    """Scorer, beam width and alpha/beta; the scorer package's own defaults when LM_ALPHA/BETA are 0.

    That is the original pipeline's rule (alpha = beta = 0.0 means "not chosen"); the tuned values reach
    the decoder as the defaults of optimize-lm's scorer package, so they travel with the scorer a step is
    given. ``alpha_beta_from`` says where they came from: ``parameters`` or the scorer's path.
    """
    alpha, beta, source = params["lm_alpha"], params["lm_beta"], "parameters"
    scorer = scorer_path(root, scorer)
    if alpha == 0.0 and beta == 0.0 and scorer is not None:
        defaults = read_scorer_defaults(scorer)
        alpha, beta, source = defaults.alpha, defaults.beta, str(scorer)
    return {"scorer": str(scorer) if scorer else None, "beam_width": params["beam_width"], "lm_alpha": alpha,
            "lm_beta": beta, "alpha_beta_from": source}


def decoder_inputs(decoder: Mapping[str, Any]) -> Dict[str, Any]:
    """What a marker records of the decoder: its settings and the scorer package's bytes."""
    return {"settings": dict(decoder),
            "scorer": file_fingerprint(Path(decoder["scorer"])) if decoder["scorer"] else None}


def require_checkpoint(root: DataRoot) -> str:
    """The best dev checkpoint's prefix; a clear error when the train step has not run."""
    prefixes = ckpt.checkpoint_prefixes(root.checkpoints, "best_dev_checkpoint")
    if not prefixes:
        raise BadInputError("no best_dev_checkpoint in {}: run the train step first.".format(root.checkpoints))
    return prefixes[0]


def checkpoint_fingerprint(root: DataRoot) -> List[Dict[str, Any]]:
    """The best dev checkpoint's files with their hashes: a retrained model of the same size and step is
    another model, so sizes alone cannot tell that it changed."""
    return [file_fingerprint(p) for p in ckpt.checkpoint_files(root.checkpoints)]


def require_file(path: Path, step: str) -> Path:
    """``path``, or a clear error naming the step that writes it."""
    if not path.is_file():
        raise BadInputError("{} is missing: run the {} step first.".format(path, step))
    return path


def summarise(samples: List[Dict[str, Any]], csvs: List[Path]) -> Dict[str, Any]:
    """Error rates per CSV and overall (a clip belongs to the CSV that lists its WAV)."""
    by_wav: Dict[str, Dict[str, Any]] = {wav_path(Path("/"), s["wav_filename"]): s for s in samples}
    per_csv: Dict[str, Any] = {}
    pairs: List[Tuple[str, str]] = []
    for csv_path in csvs:
        rows = [by_wav[wav] for wav in wav_paths(csv_path) if wav in by_wav]
        csv_pairs = [(s["src"], s["res"]) for s in rows]
        per_csv[str(csv_path)] = error_rates(csv_pairs).as_json()
        pairs += csv_pairs
    return {"per_csv": per_csv, "overall": error_rates(pairs).as_json()}


def best_median_worst(samples: List[Dict[str, Any]], count: int = REPORT_COUNT) -> Dict[str, List[Dict[str, Any]]]:
    """Samples sorted by WER then loss (as coqui's report): the best, median and worst ``count``."""
    ordered = sorted(samples, key=lambda s: (s.get("wer", 0.0), s.get("loss", 0.0)))
    keep = ("wav_filename", "src", "res", "wer", "cer", "loss")
    trimmed = [{k: s.get(k) for k in keep} for s in ordered]
    middle = len(trimmed) // 2
    return {"best": trimmed[:count], "median": trimmed[max(0, middle - count // 2): middle + (count - count // 2)],
            "worst": trimmed[-count:][::-1]}


def decode_with_stored_outputs(root: DataRoot, csvs: List[Path], alphabet: Path, decoder: Mapping[str, Any],
                               batch_size: int) -> Tuple[List[Dict[str, Any]], Dict[str, int]]:
    """Coqui's evaluation samples of ``csvs``: one acoustic pass (or the outputs optimize-lm or an earlier test
    stored for this checkpoint), then one decode with the decoder settings."""
    stored = acoustic_outputs(root, csvs, alphabet, batch_size)
    from stt_tasks.training.stored_outputs import StoredDecoder, evaluate_stored

    scorer = Path(decoder["scorer"]) if decoder["scorer"] else None
    decoding = StoredDecoder(alphabet, scorer, decoder["beam_width"], decoder["lm_alpha"], decoder["lm_beta"])
    return evaluate_stored(decoding, [s.path for s in stored]), pass_summary(stored)


def test(root: DataRoot, params: Mapping[str, Any], alphabet: Optional[Path] = None,
         scorer: Optional[Path] = None) -> Dict[str, Any]:
    """Evaluate the best dev checkpoint; write ``models/test_output.json`` and ``test_summary.json``.

    ``alphabet`` and ``scorer`` default to the alphabet and lm steps' outputs (no scorer when absent).
    """
    test_csvs = require_csvs(root, "test")
    dev_csvs = split_csvs(root, "dev")
    alphabet = require_file(alphabet or root.alphabet, "alphabet")
    best = require_checkpoint(root)
    decoder = decoder_settings(root, params, scorer)
    output = root.test_output
    summary_path = root.test_summary
    inputs = {
        "test_csvs": fingerprints(test_csvs),
        "dev_csvs": fingerprints(dev_csvs),
        "checkpoint": checkpoint_fingerprint(root),
        "alphabet": file_fingerprint(alphabet),
        "decoder": decoder_inputs(decoder),
        "batch_size": params["batch_size"],
        "writer": WRITER,
    }
    marker = CompletionMarker(root.models, MARKER)
    if marker.is_current(inputs):
        LOG.info("test already done for this checkpoint and these inputs (%s): nothing to do", marker.path)
        return dict(marker.outputs(), skipped=True)

    check_clips_exist(test_csvs + dev_csvs)
    samples, passes = decode_with_stored_outputs(root, test_csvs + dev_csvs, alphabet, decoder, params["batch_size"])
    remove_stale_siblings(output)
    with atomic_output(output, "w", encoding="utf-8") as handle:  # coqui's save_samples_json, byte for byte
        json.dump(samples, handle, default=float, ensure_ascii=False, indent=2)
    test_wavs = {wav for p in test_csvs for wav in wav_paths(p)}
    test_samples = [s for s in samples if wav_path(Path("/"), s["wav_filename"]) in test_wavs]
    summary = {
        "checkpoint": best,
        "decoder": decoder,
        "test_output": str(output),
        "test": summarise(test_samples, test_csvs),
        "dev": summarise(samples, dev_csvs) if dev_csvs else None,
        "samples": best_median_worst(test_samples),
    }
    write_json_atomic(summary_path, summary)
    overall = summary["test"]["overall"]
    LOG.info("test: WER %.3f, CER %.3f over %d clips (%s)", overall["wer"], overall["cer"], overall["clips"],
             "scorer " + decoder["scorer"] if decoder["scorer"] else "no scorer")
    result = {"test_output": str(output), "summary": str(summary_path), "wer": overall["wer"], "cer": overall["cer"],
              "per_csv": summary["test"]["per_csv"], "checkpoint": best, "decoder": decoder, "acoustic_passes": passes}
    marker.write(inputs, [output, summary_path], result)
    return dict(result, skipped=False)
