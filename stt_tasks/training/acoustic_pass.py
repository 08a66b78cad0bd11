"""The acoustic pass inside coqui: run the model over CSVs once and store every clip's softmax outputs.

Run by :func:`stt_tasks.training.acoustic.acoustic_outputs` as ``python -m stt_tasks.training.launch
stt_tasks.training.acoustic_pass <coqui flags>`` with ``$STT_ACOUSTIC_PASS`` = ``{"outputs": [{"csv",
"path"}, ...]}``. The graph, the datasets and the session are coqui's ``evaluate()``'s, op for op (same
``create_dataset`` batches, softmax of the transposed logits, CTC loss), so the stored probabilities are
the very arrays coqui's evaluation hands its decoder; the decoding is left out. One file per CSV, written
atomically (:mod:`stt_tasks.training.stored_outputs` reads them).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

from stt_tasks.fsio import atomic_output


def write_outputs(path: Path, clips: Dict[str, List[Any]]) -> None:
    """One CSV's outputs as a compressed ``.npz``: frames of every clip end to end, with their lengths."""
    probabilities = np.concatenate(clips["probabilities"]) if clips["probabilities"] else np.zeros((0, 0), "float32")
    with atomic_output(path, "wb") as handle:
        np.savez_compressed(
            handle,
            probabilities=probabilities,
            lengths=np.asarray(clips["lengths"], dtype=np.int64),
            losses=np.asarray(clips["losses"], dtype=np.float32),
            wav_filenames=np.asarray(clips["wav_filenames"], dtype=np.str_),
            transcripts=np.asarray(clips["transcripts"], dtype=np.str_),
        )


def run_pass(outputs: List[Dict[str, str]]) -> None:
    """Build coqui's evaluation graph once, load the best checkpoint, store the outputs of every CSV."""
    import tensorflow as tf
    import tensorflow.compat.v1 as tfv1
    from coqui_stt_training.deepspeech_model import create_model, reset_default_graph
    from coqui_stt_training.evaluate import sparse_tensor_value_to_texts
    from coqui_stt_training.util.augmentations import NormalizeSampleRate
    from coqui_stt_training.util.checkpoints import load_graph_for_evaluation
    from coqui_stt_training.util.config import Config, initialize_globals_from_cli
    from coqui_stt_training.util.feeding import create_dataset

    initialize_globals_from_cli()
    reset_default_graph()
    csvs = [entry["csv"] for entry in outputs]
    test_sets = [create_dataset([csv], batch_size=Config.test_batch_size, train_phase=False,
                                augmentations=[NormalizeSampleRate(Config.audio_sample_rate)],
                                reverse=Config.reverse_test, limit=Config.limit_test) for csv in csvs]
    iterator = tfv1.data.Iterator.from_structure(tfv1.data.get_output_types(test_sets[0]),
                                                 tfv1.data.get_output_shapes(test_sets[0]),
                                                 output_classes=tfv1.data.get_output_classes(test_sets[0]))
    init_ops = [iterator.make_initializer(test_set) for test_set in test_sets]
    batch_wav_filename, (batch_x, batch_x_len), batch_y = iterator.get_next()
    logits, _ = create_model(batch_x=batch_x, seq_length=batch_x_len, dropout=[None] * 6)
    transposed = tf.nn.softmax(tf.transpose(a=logits, perm=[1, 0, 2]))
    loss = tfv1.nn.ctc_loss(labels=batch_y, inputs=logits, sequence_length=batch_x_len)
    tfv1.train.get_or_create_global_step()

    with tfv1.Session(config=Config.session_config) as session:
        load_graph_for_evaluation(session)
        for entry, init_op in zip(outputs, init_ops):
            clips: Dict[str, List[Any]] = {k: [] for k in ("probabilities", "lengths", "losses", "wav_filenames",
                                                           "transcripts")}
            session.run(init_op)
            while True:
                try:
                    wavs, probabilities, losses, lengths, truths = session.run(
                        [batch_wav_filename, transposed, loss, batch_x_len, batch_y])
                except tf.errors.OutOfRangeError:
                    break
                for index, length in enumerate(lengths):
                    clips["probabilities"].append(np.asarray(probabilities[index, :length], dtype=np.float32))
                clips["lengths"].extend(int(n) for n in lengths)
                clips["losses"].extend(losses)
                clips["wav_filenames"].extend(w.decode("UTF-8") for w in wavs)
                clips["transcripts"].extend(sparse_tensor_value_to_texts(truths, Config.alphabet))
            write_outputs(Path(entry["path"]), clips)
            print("acoustic_pass: {} clips of {} stored in {}".format(len(clips["lengths"]), entry["csv"],
                                                                       entry["path"]), flush=True)


def main() -> None:
    run_pass(json.loads(os.environ["STT_ACOUSTIC_PASS"])["outputs"])


if __name__ == "__main__":
    main()
