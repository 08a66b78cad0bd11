"""The scorer package writer against upstream's own package, and on small vocabularies."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import pytest

from stt_tasks.errors import BadInputError
from stt_tasks.lm.scorer import (
    KENLM_HAS_VOCABULARY_OFFSET,
    KENLM_MAGIC,
    Alphabet,
    build_dictionary,
    looks_utf8_mode,
    word_labels,
    write_scorer,
)

from .support import FIXTURES

#: Upstream's pruned_lm.scorer: the KenLM binary is its first 266112 bytes.
UPSTREAM_KENLM_BYTES = 266112


@pytest.fixture
def upstream_lm(tmp_path: Path) -> Path:
    if not (FIXTURES / "pruned_lm.scorer").is_file():
        pytest.fail("missing {}: the shared fixtures must be beside the checkout".format(FIXTURES))
    path = tmp_path / "lm.binary"
    with open(FIXTURES / "pruned_lm.scorer", "rb") as handle:
        path.write_bytes(handle.read(UPSTREAM_KENLM_BYTES))
    return path


def test_rebuilds_upstream_package_byte_for_byte(upstream_lm: Path, tmp_path: Path) -> None:
    package = tmp_path / "rebuilt.scorer"
    result = write_scorer(upstream_lm, FIXTURES / "vocab.pruned.txt", FIXTURES / "alphabet.txt", package, 0.75, 1.85)
    expected = (FIXTURES / "pruned_lm.scorer").read_bytes()
    assert package.read_bytes() == expected
    assert hashlib.sha256(package.read_bytes()).hexdigest().startswith("cea9c3f3")
    assert (result.words, result.states, result.arcs, result.utf8_mode) == (3540, 3451, 6488, False)
    assert result.beta == pytest.approx(1.850000023841858, abs=0)


def test_other_alpha_beta_change_only_the_header(upstream_lm: Path, tmp_path: Path) -> None:
    package = tmp_path / "tuned.scorer"
    write_scorer(upstream_lm, FIXTURES / "vocab.pruned.txt", FIXTURES / "alphabet.txt", package, 0.5, 2.5)
    expected = (FIXTURES / "pruned_lm.scorer").read_bytes()
    written = package.read_bytes()
    header = UPSTREAM_KENLM_BYTES + 9
    assert struct.unpack_from("<dd", written, header) == (0.5, 2.5)
    assert written[:header] == expected[:header] and written[header + 16 :] == expected[header + 16 :]


def test_shared_suffixes_are_merged() -> None:
    alphabet = Alphabet((b" ",) + tuple(bytes([c]) for c in b"achrt"))
    dictionary = build_dictionary(word_labels([b"chat", b"rat", b"<unk>"], alphabet, utf8_mode=False))
    # root, c, {ch, r}, {cha, ra}, {chat, rat}, {chat_, rat_}: six states, one arc each but two at the root.
    assert len(dictionary.final) == 6 and dictionary.num_arcs == 6
    assert dictionary.final == [False] * 5 + [True]
    assert dictionary.arcs[0] == [(3, 1), (5, 2)]


def test_words_outside_the_alphabet_are_left_out() -> None:
    alphabet = Alphabet((b" ", b"a", b"b"))
    assert word_labels([b"ab", b"abc", b"ba"], alphabet, utf8_mode=False) == [(2, 3, 1), (3, 2, 1)]


def test_bytes_mode_is_inferred_from_single_character_words() -> None:
    assert looks_utf8_mode([b"a", "é".encode("utf-8"), b"'"])
    assert not looks_utf8_mode([b"a", b"le"])


def test_binary_with_its_vocabulary_is_refused(tmp_path: Path) -> None:
    binary = tmp_path / "with-vocab.binary"
    header = bytearray(KENLM_MAGIC + b"\0" * 200)
    header[KENLM_HAS_VOCABULARY_OFFSET] = 1
    binary.write_bytes(bytes(header))
    vocabulary = tmp_path / "vocab.txt"
    vocabulary.write_text("a b\n", encoding="utf-8")
    with pytest.raises(BadInputError, match="-v"):
        write_scorer(binary, vocabulary, FIXTURES / "alphabet.txt", tmp_path / "x.scorer", 0.0, 0.0)
    assert not (tmp_path / "x.scorer").exists()


def test_bytes_mode_words_may_be_prefixes_of_others() -> None:
    dictionary = build_dictionary(word_labels([b"ab", b"a", b"b"], None, utf8_mode=True))
    # root -a-> A (final) -b-> B (final); root -b-> B: "b" and "ab" end in the same state.
    assert dictionary.final == [False, True, True]
    assert dictionary.arcs == [[(97, 1), (98, 2)], [(98, 2)], []]
