"""Run by test_stored_outputs.py in the decoder venv (Python 3.9, coqui-stt-ctcdecoder 1.4.0, numpy).

Stores synthetic acoustic outputs with the acoustic pass's writer, decodes them with ``StoredDecoder`` and
with one ``ctc_beam_search_decoder_batch`` call over coqui-style padded float32 batches, and prints both.
"""

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from coqui_stt_ctcdecoder import Alphabet, Scorer, ctc_beam_search_decoder_batch

from stt_tasks.training.acoustic_pass import write_outputs
from stt_tasks.training.stored_outputs import CUTOFF_PROB, CUTOFF_TOP_N, StoredDecoder, load_clips, samples

scorer_path, alphabet_path = sys.argv[1], sys.argv[2]
weights = [tuple(map(float, pair.split(","))) for pair in sys.argv[3:]]
alphabet = Alphabet(alphabet_path)
labels = alphabet.GetSize() + 1
text = "she had your dark suit in greasy wash water all year"
random = np.random.RandomState(7)
clips = []
for number in range(90):  # more than one decoding chunk, of ragged lengths
    words = text.split()[number % 5:number % 5 + 3 + number % 4]
    frames = []
    for char in " ".join(words):
        for _ in range(2):
            row = random.dirichlet(np.ones(labels) * 0.3)  # noisy: the LM weight changes what wins
            row[alphabet.EncodeSingle(char)] += 0.35
            frames.append(row / row.sum())
        blank = random.dirichlet(np.ones(labels))
        blank[-1] += 2.0
        frames.append(blank / blank.sum())
    clips.append(np.asarray(frames, dtype=np.float32))
with tempfile.TemporaryDirectory() as work:
    path = Path(work) / "dev.npz"
    write_outputs(path, {"probabilities": clips, "lengths": [len(c) for c in clips],
                         "losses": [float(n % 7) for n in range(len(clips))],
                         "wav_filenames": ["/clips/{}.wav".format(n) for n in range(len(clips))],
                         "transcripts": [" ".join(text.split()[n % 5:n % 5 + 3 + n % 4]) for n in range(len(clips))]})
    stored = load_clips(path)
decoder = StoredDecoder(Path(alphabet_path), Path(scorer_path), 50, *weights[0])
result = {"stored": [], "coqui": [], "fresh": [], "samples": None}
for alpha, beta in weights:
    decoder.set_weights(alpha, beta)  # reset_params on the one scorer
    result["stored"].append(decoder.transcribe(stored))
    fresh = StoredDecoder(Path(alphabet_path), Path(scorer_path), 50, alpha, beta)
    result["fresh"].append(fresh.transcribe(stored))
    # coqui's evaluate: batches of 16 in stored order, padded float32 as TensorFlow returns them
    scorer = Scorer(alpha, beta, scorer_path, alphabet)
    transcripts = []
    for start in range(0, len(clips), 16):
        batch = clips[start:start + 16]
        padded = np.zeros((len(batch), max(len(c) for c in batch), labels), dtype=np.float32)
        for row, clip in enumerate(batch):
            padded[row, :len(clip)] = clip
        decoded = ctc_beam_search_decoder_batch(padded, [len(c) for c in batch], alphabet, 50, num_processes=2,
                                                scorer=scorer, cutoff_prob=CUTOFF_PROB, cutoff_top_n=CUTOFF_TOP_N)
        transcripts += [d[0].transcript for d in decoded]
    result["coqui"].append(transcripts)
result["samples"] = samples(stored, result["stored"][0])[:3]
result["nbytes"] = stored.nbytes
print(json.dumps(result))
