"""Run inside the Python 3.9 decoder venv: decode made-up acoustic scores with and without a scorer.

Usage: python decode_with_scorer.py SCORER ALPHABET SPOKEN HEARD. The frames spell HEARD, with the
letters of SPOKEN as close second choices where they differ; prints one JSON line with the
transcripts without a scorer and with it, and the scorer's default alpha and beta.
"""

import json
import sys

import numpy as np
from coqui_stt_ctcdecoder import Alphabet, Scorer, ctc_beam_search_decoder


def frames(alphabet, spoken, heard):
    blank = alphabet.GetSize()
    rows = []
    for said, got in zip(spoken, heard):
        row = np.full(blank + 1, 0.002)
        row[alphabet.EncodeSingle(got)] = 0.5
        if said != got:
            row[alphabet.EncodeSingle(said)] = 0.4
        rows.append(row / row.sum())
        gap = np.full(blank + 1, 0.002)
        gap[blank] = 0.9
        rows.append(gap / gap.sum())
    return np.array(rows)


def main():
    scorer_path, alphabet_path, spoken, heard = sys.argv[1:5]
    alphabet = Alphabet(alphabet_path)
    scorer = Scorer()
    error = scorer.init_from_filepath(scorer_path.encode("utf-8"), alphabet)
    if error != 0:
        raise SystemExit("scorer failed to load: error 0x{:X}".format(error))
    defaults = [scorer.alpha, scorer.beta]
    probs = frames(alphabet, spoken, heard)
    without = ctc_beam_search_decoder(probs, alphabet, 100)[0].transcript
    scorer.reset_params(1.0, 1.0)
    with_scorer = ctc_beam_search_decoder(probs, alphabet, 100, scorer=scorer)[0].transcript
    print(json.dumps({"without": without, "with": with_scorer, "defaults": defaults, "utf8": scorer.is_utf8_mode()}))


if __name__ == "__main__":
    main()
