"""LM text normalisation: the transcripts' label rules, reserved tokens, dev/test sentences."""

from __future__ import annotations

import dataclasses
import random
import re
import unicodedata
from pathlib import Path
from typing import Optional

from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot
from stt_tasks.lm.normalise import (
    evaluation_transcripts,
    normalise_block,
    normalise_stream,
    rules_identity,
    top_words,
)

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


def reference_validate(pack: LanguagePack, label: str) -> Optional[str]:
    """The label rules one label at a time, step by step as datasets.md section 4 states them."""
    rules = pack.rules
    for key in sorted(rules.before_nfkc, key=len, reverse=True):  # symbols NFKC would turn into letters
        label = re.sub(re.escape(key), " {} ".format(rules.before_nfkc[key]), label, flags=re.IGNORECASE)
    text = unicodedata.normalize("NFKC", label)
    if rules.reject.search(text):
        return None
    text = text.strip().lower()
    for key in sorted(rules.spelled_out, key=len, reverse=True):
        text = text.replace(key, " {} ".format(rules.spelled_out[key]))
    table = {ord(c): " " for c in rules.to_space}
    table.update({ord(c): None for c in rules.removed})
    table.update({ord(k): v for k, v in rules.transliterated.items()})
    text = text.translate(table)
    if rules.strip_other_diacritics:
        text = "".join(
            c if c in rules.allowed or c.isspace() else
            "".join(d for d in unicodedata.normalize("NFD", c) if not unicodedata.combining(d))
            for c in text
        )
    text = " ".join(text.split())
    return text if text and all(c in rules.allowed for c in text) else None


def reference_english(pack: LanguagePack, label: str) -> Optional[str]:
    """English-compatible form of a valid label, character by character."""
    text = reference_validate(pack, label)
    if text is None:
        return None
    text = "".join(pack.ascii_transliterated.get(c, c) for c in unicodedata.normalize("NFKC", text))
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = " ".join(text.split())
    return text if text and all(c in "abcdefghijklmnopqrstuvwxyz' " for c in text) else None


def test_block_rules_equal_the_rules_one_label_at_a_time(pack: LanguagePack) -> None:
    """LM text is validated a block at a time; every line must come out as a transcript would."""
    rules = pack.rules
    pool = (
        list("abcdefghijklmnopqrstuvwxyz ABCDEÉÈÀÇŒ'àâçèéêëîïôùûüÿœ")
        + list("0123456789*αΑΣσςΩ\t\r\x0b\x1c\u2028")
        + list(rules.to_space + rules.removed + "".join(rules.transliterated) + "".join(rules.spelled_out))
        + list("ﬁ²½ⅫǅĲİıŁØÆßÄÅąčđěğħīľňőõřśšşșťţűųýỳźžż°ºn#~@\u0301\u0327")
        + ["<s>", "n°", "nº", "N°"]
    )
    rng = random.Random(3)
    labels = ["".join(rng.choice(pool) for _ in range(rng.randint(0, 20))) for _ in range(20000)]
    expected = [reference_validate(pack, label) for label in labels]
    assert sum(e is not None for e in expected) > 3000  # the sample exercises both outcomes
    assert pack.validate_labels(labels) == expected
    assert [pack.validate_label(label) for label in labels[:2000]] == expected[:2000]
    english = [reference_english(pack, label) for label in labels]
    assert pack.validate_labels(labels, english_compatible=True) == english


def test_the_rules_identity_follows_the_rule_tables(pack: LanguagePack) -> None:
    same = dataclasses.replace(pack, rules=dataclasses.replace(pack.rules))
    assert rules_identity(same, False) == rules_identity(pack, False)
    # Any table of the pack's label rules decides the LM text: changing one changes the identity.
    for change in ({"removed": pack.rules.removed + "#"}, {"spelled_out": {**pack.rules.spelled_out, "@": "arobase"}},
                   {"allowed": pack.rules.allowed | {"ñ"}}, {"reject": re.compile(pack.rules.reject.pattern + "|x")}):
        other = dataclasses.replace(pack, rules=dataclasses.replace(pack.rules, **change))
        assert rules_identity(other, False)["label_rules"] != rules_identity(pack, False)["label_rules"], change
    # The ASCII tables matter only to English-compatible text.
    ascii_changed = dataclasses.replace(pack, ascii_transliterated={**pack.ascii_transliterated, "ñ": "n"})
    assert rules_identity(ascii_changed, False) == rules_identity(pack, False)
    assert rules_identity(ascii_changed, True) != rules_identity(pack, True)
    assert rules_identity(pack, True)["unicode"] == unicodedata.unidata_version
