"""The transcribe step: the exported model, loaded in the ``stt`` 1.4.0 runtime, on the dev clips.

Its WER must agree with what the test step measured on the same clips from the checkpoint (same
scorer, beam width, alpha and beta). They are not bit-identical: the export is quantised
(dynamic-range int8 weights) and the runtime computes features in streaming windows. They must stay
within ``TOLERANCE``; a broken export (the TFLite converter trap of tf2-compat.md: wrong outputs, or a
crash in ``STT_CreateModel``) is far outside it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from stt_tasks.errors import BadInputError, StepError
from stt_tasks.fsio import write_json_atomic
from stt_tasks.layout import DataRoot
from stt_tasks.progress import LOG, Progress
from stt_tasks.training.datasets import read_rows, require_csvs, wav_path
from stt_tasks.training.evaluate import decoder_settings
from stt_tasks.training.metrics import error_rates
from stt_tasks.training.runtime import load_model, transcribe

#: Largest accepted |WER(stt runtime) - WER(checkpoint)| on the same clips. Measured on the sample
#: corpus: identical transcripts on most clips; a quantised model may change a word now and then,
#: and on ~100 dev words one word is 0.01. A broken export gives differences of 0.5 to 1.
TOLERANCE = 0.05
#: This step's own output in ``models/``: every transcript beside the checkpoint's.
OUTPUT_NAME = "transcribe_output.json"


class DisagreementError(StepError):
    """The exported model's WER differs from the checkpoint's by more than the tolerance."""


def read_test_summary(path: Path) -> Dict[str, Any]:
    """The test step's summary: the decoder settings it used and where its per-clip samples are."""
    if not path.is_file():
        raise BadInputError("{} is missing: run the test step first (it measures the dev clips too).".format(path))
    summary: Dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if not summary.get("test_output") or not Path(summary["test_output"]).is_file():
        raise BadInputError("{}: names no test output that exists ({}): re-run the test step.".format(
            path, summary.get("test_output")))
    return summary


def transcribe_dev(root: DataRoot, params: Mapping[str, Any], max_clips: Optional[int] = None,
                   tolerance: float = TOLERANCE, model: Optional[Path] = None,
                   scorer: Optional[Path] = None, test_summary: Optional[Path] = None) -> Dict[str, Any]:
    """Transcribe the dev clips with the exported model; compare with the test step's dev WER.

    ``model``, ``scorer`` and ``test_summary`` default to the export, lm and test steps' outputs (no scorer
    when absent); the checkpoint's transcripts are the test output the summary names.
    """
    model = model or root.model
    if not model.is_file():
        raise BadInputError("{} is missing: run the export step first.".format(model))
    summary = read_test_summary(test_summary or root.test_summary)
    decoder = summary["decoder"]
    current = decoder_settings(root, params, scorer)
    if decoder != current:
        raise BadInputError("decoder settings changed since the test step ({} then, {} now): re-run the test step."
                            .format(decoder, current))
    references: List[Any] = []
    for csv_path in require_csvs(root, "dev"):
        references += [(Path(wav_path(csv_path, r["wav_filename"])), r["transcript"]) for r in read_rows(csv_path)]
    if max_clips:
        references = references[:max_clips]
    loaded = load_model(model, Path(decoder["scorer"]) if decoder["scorer"] else None, decoder["beam_width"],
                        decoder["lm_alpha"], decoder["lm_beta"])
    progress = Progress("transcribe", len(references), "clips")
    clips: List[Dict[str, str]] = []
    for clip, reference in references:
        hypothesis = transcribe(loaded, [clip])[0]
        clips.append({"wav_filename": str(clip), "src": reference, "res": hypothesis})
        progress.advance()
    progress.finish()
    runtime = error_rates((c["src"], c["res"]) for c in clips)
    checkpoint_samples = {wav_path(Path("/"), s["wav_filename"]): s for s in
                          json.loads(Path(summary["test_output"]).read_text(encoding="utf-8"))}
    missing = [c["wav_filename"] for c in clips if c["wav_filename"] not in checkpoint_samples]
    if missing:
        raise BadInputError("{} clips were not measured by the test step (first: {}): re-run the test step."
                            .format(len(missing), missing[0]))
    checkpoint = error_rates((checkpoint_samples[c["wav_filename"]]["src"], checkpoint_samples[c["wav_filename"]]["res"])
                             for c in clips)
    difference = abs(runtime.wer - checkpoint.wer)
    same = sum(1 for c in clips if c["res"] == checkpoint_samples[c["wav_filename"]]["res"])
    result = {
        "model": str(model),
        "clips": len(clips),
        "wer": runtime.wer,
        "cer": runtime.cer,
        "checkpoint_wer": checkpoint.wer,
        "checkpoint_cer": checkpoint.cer,
        "wer_difference": difference,
        "tolerance": tolerance,
        "identical_transcripts": same,
        "decoder": decoder,
    }
    output = root.models / OUTPUT_NAME
    write_json_atomic(output, dict(result, transcripts=clips))
    result["output"] = str(output)
    LOG.info("stt runtime: WER %.3f on %d dev clips; checkpoint %.3f (difference %.3f, tolerance %.3f); "
             "%d identical transcripts", runtime.wer, len(clips), checkpoint.wer, difference, tolerance, same)
    if difference > tolerance:
        raise DisagreementError(
            "{}: WER {:.3f} in the stt runtime but {:.3f} from the checkpoint on the same {} dev clips (tolerance "
            "{:.3f}). The TFLite export is suspect: check that TensorFlow is 2.15.x and the legacy converter was "
            "used (stt_tasks/training/compat.py), then re-run export. Transcripts: {}".format(
                model, runtime.wer, checkpoint.wer, len(clips), tolerance, output))
    return result
