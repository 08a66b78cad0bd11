"""Decoding stored acoustic outputs with coqui's decoder: coqui's evaluation without the acoustic model.

What coqui's ``evaluate()`` does after ``session.run``, on the arrays an acoustic pass stored
(:mod:`stt_tasks.training.acoustic`): ``ctc_beam_search_decoder_batch`` on every core with the same beam,
cutoffs, alphabet and scorer, then coqui's own per-clip sample records and their order
(``calculate_and_print_report``). Changing alpha/beta is ``Scorer.reset_params``: the language model is
loaded once per step, not once per trial. Needs only numpy and the decoder wheel (no TensorFlow, no coqui-stt-training).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from stt_tasks.training.metrics import edit_distance

#: Coqui's defaults for --cutoff_prob and --cutoff_top_n (the steps never change them).
CUTOFF_PROB = 1.0
CUTOFF_TOP_N = 300
#: Clips decoded per call: sorted by length, so padding stays small (each clip is decoded on its own).
CHUNK = 64


@dataclass(frozen=True)
class StoredClips:
    """One CSV's stored outputs: every clip's frames end to end, and what coqui knew of each clip."""

    probabilities: np.ndarray
    lengths: np.ndarray
    losses: np.ndarray
    wav_filenames: List[str]
    transcripts: List[str]

    @property
    def nbytes(self) -> int:
        """Memory the arrays hold (the peak a search keeps for its CSVs)."""
        return int(self.probabilities.nbytes + self.lengths.nbytes + self.losses.nbytes)

    def clip_probabilities(self) -> List[np.ndarray]:
        """Each clip's (frames, labels + 1) slice, views into the stored array (no copy)."""
        ends = np.cumsum(self.lengths)
        return [self.probabilities[end - length:end] for end, length in zip(ends, self.lengths)]


def load_clips(path: Path) -> StoredClips:
    """Read one stored ``.npz`` (written by the acoustic pass; no pickled objects in it)."""
    with np.load(str(path), allow_pickle=False) as stored:
        return StoredClips(probabilities=stored["probabilities"], lengths=stored["lengths"], losses=stored["losses"],
                           wav_filenames=[str(w) for w in stored["wav_filenames"]],
                           transcripts=[str(t) for t in stored["transcripts"]])


class StoredDecoder:
    """Coqui's decoder set up once (alphabet, scorer): decode stored clips with any alpha/beta."""

    def __init__(self, alphabet: Path, scorer: Optional[Path], beam_width: int, alpha: float = 0.0,
                 beta: float = 0.0, processes: Optional[int] = None) -> None:
        from coqui_stt_ctcdecoder import Alphabet, Scorer

        self.alphabet = Alphabet(str(alphabet))
        self.scorer = Scorer(alpha, beta, str(scorer), self.alphabet) if scorer else None
        self.beam_width = beam_width
        self.processes = processes or os.cpu_count() or 1  # coqui's evaluate: cpu_count()

    def set_weights(self, alpha: float, beta: float) -> None:
        """New alpha/beta for the next decodes, without reloading the language model."""
        if self.scorer is not None:
            self.scorer.reset_params(alpha, beta)

    def is_utf8_mode(self) -> bool:
        """A UTF-8 (bytes) scorer: coqui then tunes on CER, not WER."""
        return bool(self.scorer is not None and self.scorer.is_utf8_mode())

    def transcribe(self, clips: StoredClips) -> List[str]:
        """Every clip's best transcript, in the stored order."""
        from coqui_stt_ctcdecoder import ctc_beam_search_decoder_batch

        frames = clips.clip_probabilities()
        order = sorted(range(len(frames)), key=lambda i: len(frames[i]))
        transcripts: List[str] = [""] * len(frames)
        for start in range(0, len(order), CHUNK):
            chunk = order[start:start + CHUNK]
            longest = max(len(frames[i]) for i in chunk)
            batch = np.zeros((len(chunk), longest, clips.probabilities.shape[1]), dtype=np.float64)
            for row, i in enumerate(chunk):
                batch[row, :len(frames[i])] = frames[i]
            lengths = np.asarray([len(frames[i]) for i in chunk], dtype=np.int32)
            decoded = ctc_beam_search_decoder_batch(batch, lengths, self.alphabet, self.beam_width,
                                                    num_processes=self.processes, scorer=self.scorer,
                                                    cutoff_prob=CUTOFF_PROB, cutoff_top_n=CUTOFF_TOP_N)
            for i, results in zip(chunk, decoded):
                transcripts[i] = results[0].transcript
        return transcripts


def sample(wav_filename: str, truth: str, prediction: str, loss: float) -> Dict[str, Any]:
    """One clip's record as coqui's ``process_decode_result`` makes it (the keys of test_output.json; the
    edit distance is the same Levenshtein distance as coqui's ``util/text.py``)."""
    char_distance = edit_distance(truth, prediction)
    word_distance = edit_distance(truth.split(), prediction.split())
    char_length, word_length = len(truth), len(truth.split())
    return {"wav_filename": wav_filename, "src": truth, "res": prediction, "loss": float(loss),
            "char_distance": char_distance, "char_length": char_length, "word_distance": word_distance,
            "word_length": word_length, "cer": char_distance / char_length if char_length else 0.0,
            "wer": word_distance / word_length if word_length else 0.0}


def samples(clips: StoredClips, transcripts: List[str], sort_by: str = "wer") -> List[Dict[str, Any]]:
    """Coqui's samples of one CSV, in coqui's order: by loss descending, then (stable) by ``sort_by``."""
    records = [sample(w, t, p, loss) for w, t, p, loss in zip(clips.wav_filenames, clips.transcripts, transcripts,
                                                               clips.losses)]
    records.sort(key=lambda s: s["loss"], reverse=True)
    records.sort(key=lambda s: s[sort_by])
    return records


def error_rate(records: List[Dict[str, Any]], metric: str) -> float:
    """Coqui's ``wer_cer_batch``: summed distances over summed lengths, capped at 1."""
    unit = "word" if metric == "wer" else "char"
    distance = sum(s[unit + "_distance"] for s in records)
    length = sum(s[unit + "_length"] for s in records)
    return min(distance / length, 1.0) if length else 0.0


def evaluate_stored(decoder: StoredDecoder, stored: List[Path]) -> List[Dict[str, Any]]:
    """Coqui's ``evaluate()`` result over the stored outputs of several CSVs, CSV after CSV."""
    records: List[Dict[str, Any]] = []
    for path in stored:
        clips = load_clips(path)
        records += samples(clips, decoder.transcribe(clips))
    return records
