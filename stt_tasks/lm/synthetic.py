"""Generated French-looking text of any size, for the LM tests and benchmark.

Real French sentences from the language pack mixed with lines of invented words drawn from a
Zipf distribution, so that the word frequencies look like prose (a long tail, hence a vocabulary
larger than small top-k values) and lmplz has real work to do. Deterministic for a given seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import List

import numpy as np

from stt_tasks.fsio import atomic_output
from stt_tasks.languages import LanguagePack

_ONSETS = ["", "b", "c", "d", "f", "g", "j", "l", "m", "n", "p", "r", "s", "t", "v", "ch", "gr", "pl", "tr", "br"]
_VOWELS = ["a", "e", "i", "o", "u", "é", "è", "ou", "an", "on", "ai", "eu", "in", "ê", "â"]
_CODAS = ["", "", "", "s", "t", "r", "l", "n", "x", "nt"]


def invented_words(count: int, seed: int) -> List[str]:
    """``count`` distinct pronounceable words of two or three syllables."""
    rng = np.random.default_rng(seed)
    words: List[str] = []
    seen = set()
    while len(words) < count:
        syllables = rng.integers(2, 4)
        word = "".join(
            _ONSETS[rng.integers(len(_ONSETS))] + _VOWELS[rng.integers(len(_VOWELS))] for _ in range(syllables)
        ) + _CODAS[rng.integers(len(_CODAS))]
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def write_french_text(path: Path, size_bytes: int, pack: LanguagePack, seed: int = 0, vocabulary: int = 50000) -> int:
    """Write about ``size_bytes`` of text, one sentence per line; return the number of lines."""
    rng = np.random.default_rng(seed)
    real = pack.sample_lm_text() + pack.sample_sentences()
    real_words = " ".join(real).lower().replace(".", "").replace(",", "").split()
    lexicon = np.array(list(dict.fromkeys(real_words)) + invented_words(vocabulary, seed), dtype=object)
    written = 0
    lines = 0
    with atomic_output(path, "w", encoding="utf-8") as handle:
        while written < size_bytes:
            ranks = rng.zipf(1.3, size=200000)
            words = lexicon[(ranks - 1) % len(lexicon)]
            lengths = rng.integers(4, 18, size=len(words) // 4)
            block: List[str] = []
            start = 0
            for length in lengths:
                if start + length > len(words):
                    break
                if rng.random() < 0.02:
                    block.append(real[int(rng.integers(len(real)))])
                sentence = " ".join(words[start : start + length])
                block.append(sentence[0].upper() + sentence[1:] + ".")
                start += length
            text = "\n".join(block) + "\n"
            handle.write(text)
            written += len(text.encode("utf-8"))
            lines += len(block)
    return lines
