"""Re-splitting Common Voice's validated clips with more recordings per sentence.

What CorporaCreator did for the original pipeline when ``DUPLICATE_SENTENCE_COUNT`` > 1: keep up to
N recordings of each sentence, then build train/dev/test so that no speaker and no sentence is shared
between splits. Dev and test take the speakers with the fewest clips (many voices, small sets), sized
by the sample size for a 99% confidence and 1% margin of error. Every choice is ordered by a stable
hash, so the same release always gives the same split.

Sentences are compared by their label (the transcript after the language's label rules, given as
a column), not by the raw text: "Bonjour." and "bonjour !" are one sentence to the model, so they
count together towards the recordings allowed and never end up on both sides of a split.
"""

from __future__ import annotations

import hashlib
from typing import Dict

import pandas as pd

SPLIT_PRIORITY = ("test", "dev", "train")


def _stable_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def evaluation_set_size(population: int, max_fraction: float = 0.1) -> int:
    """Sample size (z=2.58, p=0.5, margin 1%, finite population), at most ``max_fraction``."""
    if population <= 0:
        return 0
    n0 = 2.58 ** 2 * 0.25 / 0.01 ** 2
    size = n0 / (1 + (n0 - 1) / population)
    return max(1, min(int(size), int(population * max_fraction)))


def resplit(validated: pd.DataFrame, max_per_sentence: int, sentence_key: str = "sentence") -> pd.DataFrame:
    """Rows of ``validated`` (columns client_id, path, sentence) kept, with a ``split`` column.

    ``sentence_key`` names the column that says which rows hold the same sentence (the label).
    """
    clips = validated.drop_duplicates("path").copy()
    clips["_order"] = clips["path"].map(_stable_hash)
    clips = clips.sort_values("_order", kind="mergesort")
    clips = clips[clips.groupby(sentence_key).cumcount() < max_per_sentence]

    per_speaker = clips.groupby("client_id").size().rename("n").reset_index()
    per_speaker["_order"] = per_speaker["client_id"].map(_stable_hash)
    per_speaker = per_speaker.sort_values(["n", "_order"], kind="mergesort")

    target = evaluation_set_size(len(clips))
    speaker_split: Dict[str, str] = {}
    filled = {"test": 0, "dev": 0}
    for speaker, count in zip(per_speaker["client_id"], per_speaker["n"]):
        split = next((s for s in ("test", "dev") if filled[s] < target), "train")
        if split != "train":
            filled[split] += count
        speaker_split[speaker] = split
    clips["split"] = clips["client_id"].map(speaker_split)

    kept = []
    claimed: set = set()
    for split in SPLIT_PRIORITY:
        rows = clips[(clips["split"] == split) & ~clips[sentence_key].isin(claimed)]
        claimed.update(rows[sentence_key])
        kept.append(rows)
    result = pd.concat(kept).drop(columns="_order")
    return result.sort_values(["split", "path"], kind="mergesort").reset_index(drop=True)
