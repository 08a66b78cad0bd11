"""The data root's conventions: where artifacts go, and which given input paths a step accepts."""

from __future__ import annotations

import pytest

from stt_tasks.errors import BadInputError
from stt_tasks.layout import DataRoot


@pytest.fixture
def root(tmp_path):
    root = DataRoot(tmp_path / "data")
    root.create()
    root.alphabet.write_text("a\n", encoding="utf-8")
    return root


def test_artifacts_passed_between_steps_have_conventional_places(root):
    assert root.alphabet == root.root / "models" / "alphabet.txt"
    assert root.scorer == root.root / "lm" / "kenlm.scorer"
    assert root.model == root.root / "models" / "output_graph.tflite"


def test_an_input_not_given_or_given_empty_is_the_default(root):
    # empty: what the DAG renders when the upstream task was skipped and left no result
    assert root.given_input(None, "--scorer", root.scorer) is None
    assert root.given_input("", "--scorer", root.scorer) is None


def test_a_given_input_under_the_data_root_is_taken(root):
    assert root.given_input(str(root.alphabet), "--alphabet", root.alphabet) == root.alphabet
    roundabout = root.root / "lm" / ".." / "models" / "alphabet.txt"
    assert root.given_input(str(roundabout), "--alphabet", root.alphabet) == root.alphabet


@pytest.mark.parametrize("outside", ["/etc/hostname", "{data}/../elsewhere/alphabet.txt", "{data}-other/alphabet.txt"])
def test_a_given_input_outside_the_data_root_is_refused(root, outside):
    value = outside.format(data=root.root)
    with pytest.raises(BadInputError, match="--alphabet .*: outside the data root") as refused:
        root.given_input(value, "--alphabet", root.alphabet)
    assert "leave --alphabet out for {}".format(root.alphabet) in str(refused.value)


def test_a_given_input_that_does_not_exist_is_refused_with_the_fix(root):
    missing = root.lm / "tuned.scorer"
    with pytest.raises(BadInputError) as refused:
        root.given_input(str(missing), "--scorer", root.scorer)
    message = str(refused.value)
    assert message.startswith("--scorer {}: no such file.".format(missing))
    assert "leave --scorer out for {}".format(root.scorer) in message
