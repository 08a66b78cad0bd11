"""A scorer package with other default alpha/beta: read back by us and loaded by Coqui's own decoder."""

from __future__ import annotations

from pathlib import Path

import pytest

from stt_tasks.errors import BadInputError
from stt_tasks.lm.scorer import float32, read_scorer_defaults, write_package_with_defaults

from .support import FIXTURES, require
from .test_decoder import decode, decoder_python  # noqa: F401 (the decoder venv fixture)

UPSTREAM = FIXTURES / "pruned_lm.scorer"


@pytest.fixture
def upstream() -> Path:
    require(UPSTREAM.is_file(), "upstream's pruned_lm.scorer fixture")
    return UPSTREAM


def test_the_defaults_of_upstreams_package_are_read(upstream: Path) -> None:
    defaults = read_scorer_defaults(upstream)
    # the values coqui's generate_scorer_package was given for it (test_scorer rebuilds it with them)
    assert (defaults.alpha, defaults.beta, defaults.utf8_mode) == (0.75, float32(1.85), False)
    assert defaults.header_offset == 266112  # the KenLM binary's length


def test_other_defaults_change_the_header_only_and_leave_the_source(upstream: Path, tmp_path: Path) -> None:
    before = upstream.read_bytes()
    written = write_package_with_defaults(upstream, tmp_path / "tuned" / "kenlm.scorer", 0.3, 2.5)
    after = written.path.read_bytes()
    assert (written.alpha, written.beta) == (float32(0.3), float32(2.5)) and upstream.read_bytes() == before
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    assert len(after) == len(before) and changed and 266112 + 9 <= min(changed) and max(changed) < 266112 + 25


def test_a_truncated_package_is_refused(upstream: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.scorer"
    truncated.write_bytes(upstream.read_bytes()[:-16])
    with pytest.raises(BadInputError, match="truncated.scorer: not a Coqui scorer package"):
        read_scorer_defaults(truncated)


@pytest.mark.slow
def test_the_decoder_loads_the_tuned_package_with_its_defaults(
    upstream: Path, decoder_python: Path, tmp_path: Path  # noqa: F811
) -> None:
    tuned = write_package_with_defaults(upstream, tmp_path / "tuned.scorer", 0.3, 2.5).path
    heard = decode(decoder_python, tuned, FIXTURES / "alphabet.txt", "dark suit", "darc suit")
    assert heard["defaults"] == [float32(0.3), float32(2.5)] and heard["utf8"] is False
    assert heard["without"] == "darc suit" and heard["with"] == "dark suit"  # the dictionary still works
