"""Word and character error rates, computed the way coqui does (edit distance over total length).

Pure Python so that the transcribe step's WER (from the ``stt`` runtime) is computed exactly like
the test step's (from coqui's ``test_output.json`` distances) and the two can be compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Sequence, Tuple


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Levenshtein distance between two token sequences."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_token in enumerate(reference, 1):
        current = [i]
        for j, hyp_token in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_token != hyp_token)))
        previous = current
    return previous[-1]


@dataclass(frozen=True)
class ErrorRates:
    """Corpus-level WER and CER: summed distances over summed reference lengths."""

    word_distance: int
    word_length: int
    char_distance: int
    char_length: int
    clips: int

    # Coqui caps both at 1.0 (``wer_cer_batch``); so do we, so that the two can be compared.
    @property
    def wer(self) -> float:
        return min(self.word_distance / self.word_length, 1.0) if self.word_length else 0.0

    @property
    def cer(self) -> float:
        return min(self.char_distance / self.char_length, 1.0) if self.char_length else 0.0

    def as_json(self) -> dict:
        return {"wer": self.wer, "cer": self.cer, "clips": self.clips, "words": self.word_length,
                "characters": self.char_length}


def error_rates(pairs: Iterable[Tuple[str, str]]) -> ErrorRates:
    """Error rates over (reference, hypothesis) transcript pairs."""
    wd = wl = cd = cl = n = 0
    for reference, hypothesis in pairs:
        ref_words: List[str] = reference.split()
        wd += edit_distance(ref_words, hypothesis.split())
        wl += len(ref_words)
        cd += edit_distance(reference, hypothesis)
        cl += len(reference)
        n += 1
    return ErrorRates(wd, wl, cd, cl, n)
