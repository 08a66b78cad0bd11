"""WER/CER as coqui computes them: summed edit distances over summed lengths, capped at 1."""

from __future__ import annotations

from stt_tasks.training.metrics import edit_distance, error_rates


def test_edit_distance():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("le chat dort".split(), "le chien dort".split()) == 1
    assert edit_distance([], ["a"]) == 1


def test_corpus_level_rates():
    rates = error_rates([("le chat dort", "le chat dort"), ("il fait beau", "il fait")])
    assert rates.word_distance == 1 and rates.word_length == 6 and abs(rates.wer - 1 / 6) < 1e-12
    assert rates.clips == 2 and rates.cer == 5 / (12 + 12)


def test_rates_are_capped_like_coquis():
    assert error_rates([("a", "b c d e")]).wer == 1.0
