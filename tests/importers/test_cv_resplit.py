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


def test_sentences_are_counted_and_kept_apart_by_label():
    rows = [
        {"client_id": "speaker{}".format(i), "path": "clip{}.mp3".format(i), "sentence": sentence}
        for i, sentence in enumerate(["Bonjour.", "bonjour !", "BONJOUR", "Bonjour…"] + ["phrase {}".format(k) for k in range(36)])
    ]
    validated = pd.DataFrame(rows)
    validated["label"] = [" ".join(s.lower().strip(".!… ").split()) for s in validated["sentence"]]
    split = resplit(validated, max_per_sentence=2, sentence_key="label")
    greetings = split[split["label"] == "bonjour"]
    assert len(greetings) == 2 and greetings["split"].nunique() == 1


def _greetings_release(sources, payloads):
    from tests.importers.cv_releases import HEADER_7, make_release, row, tsv

    sentences = ["Bonjour.", "bonjour !", "BONJOUR", "« Bonjour »", "Bonjour…", "bonjour ?"]
    others = ["Le chat dort.", "Il fait beau.", "La mer est calme.", "Merci beaucoup.", "Au revoir."]
    validated, clips = [], []
    for speaker in range(12):
        for take, sentence in enumerate([sentences[speaker % len(sentences)]] + others[: 1 + speaker % 3]):
            name = "s{}_{}.mp3".format(speaker, take)
            clips.append((name, payloads[3] if take == 0 else payloads[take % 3]))
            validated.append(row(HEADER_7, "speaker{}".format(speaker), name, sentence))
    tables = {"validated": tsv(HEADER_7, validated)}
    tables.update({split: tsv(HEADER_7, validated[:1]) for split in ("train", "dev", "test")})
    return make_release(sources, clips, tables)


def test_resplit_import_keeps_labels_disjoint_and_says_the_split_is_ours(data_root, pack, clip_payloads):
    from stt_tasks.importers.leakage import leakage, load_corpora

    _greetings_release(data_root.sources, clip_payloads)
    result = prepare_common_voice(data_root, pack, duplicate_sentence_count=2, workers=2)
    transcripts = {}
    for split, path in result.csvs.items():
        transcripts[split] = pd.read_csv(path)["transcript"].tolist()
    assert sum(t.count("bonjour") for t in transcripts.values()) == 2  # six spellings, one sentence
    for a, b in itertools.combinations(transcripts, 2):
        assert not set(transcripts[a]) & set(transcripts[b])

    manifest = result.directory / "cv-fr_manifest.tsv"
    lines = manifest.read_text(encoding="utf-8").splitlines()
    assert {line.split("\t")[1] for line in lines[1:]} == {"resplit"}
    report = leakage(load_corpora(data_root.data))
    assert report["corpora"][0]["splits"] == "resplit" and report["findings"] == []
    # Leakage in a split we chose is ours to fix: "created", never "inherited".
    test_row = next(line for line in lines if line.startswith("test\t"))
    manifest.write_text("\n".join(lines + ["train" + test_row[len("test"):]]) + "\n", encoding="utf-8")
    kinds = {finding["kind"] for finding in leakage(load_corpora(data_root.data))["findings"]}
    assert kinds == {"created"}
