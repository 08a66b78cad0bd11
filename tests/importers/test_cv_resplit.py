"""Re-splitting validated.tsv with more recordings per sentence (what CorporaCreator did)."""

from __future__ import annotations

import itertools

import pandas as pd

from stt_tasks.importers.common_voice import prepare_common_voice
from stt_tasks.importers.resplit import evaluation_set_size, resplit


def synthetic_validated(speakers: int = 40, sentences: int = 60, per_speaker: int = 12) -> pd.DataFrame:
    rows = []
    counter = itertools.count()
    for s in range(speakers):
        for k in range(per_speaker + s % 7):
            rows.append(
                {
                    "client_id": "speaker{}".format(s),
                    "path": "clip{}.mp3".format(next(counter)),
                    "sentence": "phrase {}".format((s * 7 + k * 3) % sentences),
                }
            )
    return pd.DataFrame(rows)


def test_splits_share_no_speaker_and_no_sentence():
    split = resplit(synthetic_validated(), max_per_sentence=3)
    groups = {name: split[split["split"] == name] for name in ("train", "dev", "test")}
    assert all(len(g) for g in groups.values())
    for a, b in itertools.combinations(groups, 2):
        assert not set(groups[a]["client_id"]) & set(groups[b]["client_id"])
        assert not set(groups[a]["sentence"]) & set(groups[b]["sentence"])
    assert split.groupby("sentence").size().max() <= 3


def test_more_duplicates_allowed_gives_more_clips():
    validated = synthetic_validated()
    sizes = [len(resplit(validated, n)) for n in (1, 2, 5)]
    assert sizes[0] < sizes[1] < sizes[2]
    assert sizes[0] <= validated["sentence"].nunique()


def test_resplit_is_deterministic_whatever_the_row_order():
    validated = synthetic_validated()
    shuffled = validated.sample(frac=1.0, random_state=7)
    assert resplit(validated, 2).equals(resplit(shuffled, 2))


def test_evaluation_set_size():
    assert evaluation_set_size(542288) == 16145  # the 99%/1% sample size on a 7.0-sized release
    assert evaluation_set_size(100) == 10  # small corpora: at most 10%
    assert evaluation_set_size(0) == 0


def test_import_with_duplicate_sentence_count(sample_data_root, fr_pack, step):
    run = step("import", "common-voice", "--data-root", str(sample_data_root.root), "--duplicate-sentence-count", "4")
    assert run.returncode == 0, run.stderr
    clips = run.result["clips"]
    assert all(clips[s] > 0 for s in ("train", "dev", "test"))
    resplit_dir = sample_data_root.data / "cv-fr" / "resplit"
    frames = {s: pd.read_csv(resplit_dir / "{}.tsv".format(s), sep="\t") for s in ("train", "dev", "test")}
    for a, b in itertools.combinations(frames, 2):
        assert not set(frames[a]["client_id"]) & set(frames[b]["client_id"])
        assert not set(frames[a]["sentence"]) & set(frames[b]["sentence"])
    assert max(f.groupby("sentence").size().max() for f in frames.values()) <= 4
    # the official split is the default, and switching back re-imports
    official = prepare_common_voice(sample_data_root, fr_pack, workers=2)
    assert official.clips == {"train": 96, "dev": 16, "test": 16} and not official.skipped
