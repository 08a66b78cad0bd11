"""French label rules (datasets.md section 4), as tables of examples."""

from __future__ import annotations

import pytest

CASES = [
    ("Le chat dort sur le canapé.", "le chat dort sur le canapé"),
    ("Il fait beau aujourd’hui !", "il fait beau aujourd hui"),  # typographic apostrophe: a space
    ("L'homme est là.", "l'homme est là"),  # ASCII apostrophe kept
    ("« Oui », dit-elle…", "oui dit elle"),
    ("Ex æquo", "ex équo"),
    ("Tom & Jerry", "tom et jerry"),
    ("Il fait 20 °C", None),  # digits reject the clip
    ("Un prix en € et en $", "un prix en euros et en dollars"),
    ("la constante π", "la constante pi"),
    ("Dvořák à Łódź", "dvorak à lodz"),
    ("Strauß", "strauss"),
    ("cœur", "cœur"),
    ("un mot *important*", None),
    ("Москва", None),
    ("東京", None),
    ("le son ɛ", None),
    ("   ", None),
    ("...", None),
    ("a [b]", None),  # characters outside the alphabet drop the clip instead of reaching it
    ("ﬁn", "fin"),  # NFKC first
    # datasets.md 4, step 5; these symbols are spelled out before NFKC would make them "o", "s", "1⁄2"
    ("Le nº un", "le numéro un"),
    ("Nºˢ pairs", "numéros pairs"),
    ("le n° trois", "le numéro trois"),
    ("Il fait vingt º", "il fait vingt degré"),
    ("Une heure et ½", "une heure et demi"),
    ("Un ¼ d'heure", "un quart d'heure"),
    ("nos amis", "nos amis"),  # "no", "nos" are words: only the symbols are spelled out
    ("Ma^tre", "maetre"),  # "^" -> "e"
]


@pytest.mark.parametrize("label,expected", CASES)
def test_french_rules(fr_pack, label, expected):
    assert fr_pack.validate_label(label) == expected


@pytest.mark.parametrize(
    "label,expected",
    [
        ("Le cœur brisé.", "le coeur brise"),
        ("Ça coûte 5 €", None),
        ("Ça coûte cher, en €", "ca coute cher en euros"),
        ("naïve Noël", "naive noel"),
    ],
)
def test_english_compatible(fr_pack, label, expected):
    assert fr_pack.validate_label(label, english_compatible=True) == expected


def test_valid_labels_stay_within_the_alphabet(fr_pack):
    for label, _ in CASES:
        for english in (False, True):
            result = fr_pack.validate_label(label, english)
            if result is not None:
                assert set(result) <= fr_pack.allowed_characters(english)
                assert result == result.strip() and "  " not in result
                # the rules are idempotent: a valid label is its own normal form
                assert fr_pack.validate_label(result, english) == result


def test_known_releases_have_checksums(fr_pack):
    release = fr_pack.release("cv-corpus-12.0-2022-12-07-fr.tar.gz")
    assert release is not None and len(release.sha256) == 64
    assert fr_pack.release("cv-corpus-1.0-2000-01-01-fr.tar.gz") is None
