"""Corpus-level WER and CER with 95% bootstrap confidence intervals, resampling clips.

A test set of a few hundred clips gives a WER that moves by several points with another draw of
clips; the interval says how much. Clips are resampled with replacement (the clip, not the word, is
the unit drawn: words of one clip are not independent) and the corpus figure recomputed as coqui
does (summed edit distances over summed reference lengths, capped at 1). The generator is seeded by
the corpus name, so the same clips give the same interval, and adding a corpus moves no other's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence

from stt_tasks.training.metrics import edit_distance

RESAMPLES = 1000
LEVEL = 0.95
#: resampled clip indices drawn at once (bounds the memory of a 100k-clip test set)
_CHUNK_CELLS = 2_000_000


@dataclass(frozen=True)
class ClipErrors:
    """One decoded clip's edit distances and reference lengths, in words and in characters."""

    word_distance: int
    word_length: int
    char_distance: int
    char_length: int


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    @property
    def width(self) -> float:
        return self.high - self.low


@dataclass(frozen=True)
class RateEstimate:
    """WER and CER of a set of clips with their bootstrap intervals (None: fewer than two clips)."""

    clips: int
    wer: float
    cer: float
    wer_interval: Optional[Interval]
    cer_interval: Optional[Interval]

    def as_json(self) -> Dict[str, Any]:
        def pair(interval: Optional[Interval]) -> Optional[List[float]]:
            return [round(interval.low, 6), round(interval.high, 6)] if interval else None

        return {"clips": self.clips, "wer": round(self.wer, 6), "cer": round(self.cer, 6),
                "wer_ci95": pair(self.wer_interval), "cer_ci95": pair(self.cer_interval)}


def clip_errors(sample: Mapping[str, Any]) -> ClipErrors:
    """The distances coqui recorded for a clip of ``test_output.json``, or computed from its texts."""
    if all(key in sample for key in ("word_distance", "word_length", "char_distance", "char_length")):
        return ClipErrors(int(sample["word_distance"]), int(sample["word_length"]), int(sample["char_distance"]),
                          int(sample["char_length"]))
    reference, hypothesis = str(sample.get("src") or ""), str(sample.get("res") or "")
    return ClipErrors(edit_distance(reference.split(), hypothesis.split()), len(reference.split()),
                      edit_distance(reference, hypothesis), len(reference))


def _ratio(distance: float, length: float) -> float:
    return min(distance / length, 1.0) if length else 0.0


def seed_of(name: str) -> int:
    """A stable seed per corpus name (Python's ``hash`` changes per process)."""
    return int(hashlib.sha256(name.encode("utf-8")).hexdigest()[:8], 16)


def estimate(errors: Sequence[ClipErrors], name: str, resamples: int = RESAMPLES, level: float = LEVEL) -> RateEstimate:
    """WER and CER of ``errors`` with percentile bootstrap intervals, seeded by ``name``."""
    import numpy as np

    table = np.array([[e.word_distance, e.word_length, e.char_distance, e.char_length] for e in errors],
                     dtype=np.float64).reshape(-1, 4)
    totals = table.sum(axis=0)
    wer, cer = _ratio(totals[0], totals[1]), _ratio(totals[2], totals[3])
    count = len(errors)
    if count < 2:
        return RateEstimate(count, wer, cer, None, None)
    rng = np.random.default_rng(seed_of(name))
    sums = np.empty((resamples, 4))
    rows = max(1, _CHUNK_CELLS // count)
    for start in range(0, resamples, rows):
        stop = min(resamples, start + rows)
        drawn = rng.integers(0, count, size=(stop - start, count))
        sums[start:stop] = table[drawn].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        wers = np.minimum(np.where(sums[:, 1] > 0, sums[:, 0] / sums[:, 1], 0.0), 1.0)
        cers = np.minimum(np.where(sums[:, 3] > 0, sums[:, 2] / sums[:, 3], 0.0), 1.0)
    tail = (1.0 - level) / 2 * 100

    def interval(values: Any) -> Interval:
        low, high = np.percentile(values, [tail, 100 - tail])
        return Interval(float(low), float(high))

    return RateEstimate(count, wer, cer, interval(wers), interval(cers))


def estimates_by_set(sets: Mapping[str, Sequence[ClipErrors]]) -> Dict[str, RateEstimate]:
    """An estimate per named set of clips (a test CSV), plus ``overall`` over all of them."""
    result = {name: estimate(errors, name) for name, errors in sets.items()}
    everything = [e for errors in sets.values() for e in errors]
    result["overall"] = estimate(everything, "overall")
    return result
