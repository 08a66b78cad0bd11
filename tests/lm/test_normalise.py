"""LM text normalisation: the transcripts' label rules, reserved tokens, dev/test sentences."""

from __future__ import annotations

from pathlib import Path

from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot
from stt_tasks.lm.normalise import evaluation_transcripts, normalise_block, normalise_stream, top_words

from .support import PLANTED


def test_lines_follow_the_label_rules(pack: LanguagePack) -> None:
    block = "Le Cœur <s> battait</s> fort.\nIl avait 3 chats.\nL’Été & <UNK> l'hiver\n\n".encode("utf-8")
    text, stats = normalise_block(block, pack, False, frozenset())
    assert text == "le cœur battait fort\nl été et l'hiver\n"
    assert (stats.lines, stats.kept, stats.rejected, stats.evaluation_removed) == (4, 2, 2, 0)


def test_english_compatible_transliterates(pack: LanguagePack) -> None:
    text, _ = normalise_block("Le cœur de l'été.\n".encode("utf-8"), pack, True, frozenset())
    assert text == "le coeur de l'ete\n"


def test_evaluation_sentences_are_removed(pack: LanguagePack, data_root: DataRoot) -> None:
    evaluation = evaluation_transcripts(data_root.data, pack, False)
    assert PLANTED in evaluation.excluded and "il fait beau aujourd'hui" in evaluation.excluded
    assert evaluation.dev == (PLANTED, "le chat dort sur le canapé")
    block = "La grenouille verte saute dans la mare.\nLa grenouille verte saute.\n".encode("utf-8")
    text, stats = normalise_block(block, pack, False, evaluation.excluded)
    assert text == "la grenouille verte saute\n" and stats.evaluation_removed == 1


def test_stream_keeps_input_order_across_workers(pack: LanguagePack) -> None:
    blocks = ["Phrase numéro {} ici.\n".format(" ".join(["x"] * (n % 7))).encode("utf-8") for n in range(200)]
    received = []
    stats = normalise_stream(iter(blocks), pack, False, frozenset(), received.append, workers=2)
    expected = ["phrase numéro {} ici\n".format(" ".join(["x"] * (n % 7))).replace("  ", " ") for n in range(200)]
    assert received == expected and stats.kept == 200


def test_top_words_most_frequent_first() -> None:
    from collections import Counter

    counts = Counter("b a b c a b d".split())
    assert top_words(counts, 2) == ["b", "a"]
    assert top_words(counts, 10) == ["b", "a", "c", "d"]


def test_no_evaluation_csvs(tmp_path: Path, pack: LanguagePack) -> None:
    evaluation = evaluation_transcripts(tmp_path, pack, False)
    assert evaluation.dev == () and evaluation.excluded == frozenset()
