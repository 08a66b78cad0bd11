"""The package step: the release archives and a model card with the model's lineage.

As the original ``package.sh``, in the data root: ``model_tflite_<lang>.tar.xz`` (TFLite model, alphabet,
scorer), ``checkpoint_<lang>.tar.xz`` (``best_dev_checkpoint`` and the files of the checkpoint it names,
with coqui's ``flags.txt`` and ``alphabet.txt``) and a copy of the model zip. New: ``model_card_<lang>.md``,
which says what the model was made from (corpora, hours, clips, what the importers dropped, the Common
Voice release and its sha256), how (parameters, epochs, software versions, the image and code revision
that trained and packaged it), how well it does (WER/CER per test corpus), the checksums of what was
shipped, and links to the report step's plots. Pure Python: no TensorFlow needed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from stt_tasks import __version__, reproducible
from stt_tasks.errors import BadInputError
from stt_tasks.fsio import CompletionMarker, atomic_path, file_fingerprint, sha256_file, write_text_atomic
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot
from stt_tasks.progress import LOG
from stt_tasks.training.capabilities import image_identity
from stt_tasks.training.checkpoints import relative_state
from stt_tasks.training.evaluate import scorer_path

MARKER = ".package.completed.json"
#: Bumped when the archives or the card change for the same inputs (markers of older writers are stale).
WRITER = "package/2"


def _json(path: Path) -> Optional[Dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def checkpoint_members(checkpoints: Path) -> List[Path]:
    """best_dev_checkpoint, every file of the checkpoint(s) it names, flags.txt and alphabet.txt."""
    state = checkpoints / "best_dev_checkpoint"
    if not state.is_file():
        raise BadInputError("no {}: run the train step first.".format(state))
    members = [state]
    for line in state.read_text(encoding="utf-8").splitlines():
        if ":" not in line:
            continue
        name = Path(line.split(":", 1)[1].strip().strip('"')).name
        members += sorted(p for p in checkpoints.glob(name + ".*") if p.is_file() and p not in members)
    members += [checkpoints / n for n in ("flags.txt", "alphabet.txt") if (checkpoints / n).is_file()]
    return members


def write_tar_xz(target: Path, members: List[Tuple[Path, str]],
                 rewrite: Optional[Mapping[str, Callable[[str], str]]] = None) -> None:
    """A reproducible .tar.xz of (file, name in archive) pairs, written under a temporary name then renamed.

    ``rewrite`` maps archive names to a function applied to that text file's content (the checkpoint
    state file gets bare names, so the archive works wherever it is extracted).
    """
    rewrite = rewrite or {}
    reproducible.write_tar_xz(target, [
        (path, name, rewrite[name](path.read_text(encoding="utf-8")).encode("utf-8") if name in rewrite else None)
        for path, name in members])


def corpus_reports(root: DataRoot) -> Dict[str, Dict[str, Any]]:
    """Each importer's ``<corpus>_report.json`` under ``extracted/data``, by corpus."""
    reports = {}
    for path in sorted(root.data.glob("*/*_report.json")):
        report = _json(path) or {}
        reports[str(report.get("corpus", path.parent.name))] = report
    return reports


def software_versions() -> Dict[str, str]:
    try:
        from importlib import metadata
    except ImportError:  # pragma: no cover
        return {}
    versions = {"stt-tasks": __version__}
    for name in ("coqui-stt-training", "coqui-stt-ctcdecoder", "stt", "tensorflow-cpu", "tensorflow"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def corpus_releases(root: DataRoot) -> Dict[str, Dict[str, Any]]:
    """The Common Voice release each import read, by corpus: ``release`` of its report (name, sha256,
    whether it was checked, the chain of deltas)."""
    releases = {}
    for path in sorted(root.data.glob("*/*_report.json")):
        report = _json(path) or {}
        release = report.get("release")
        if isinstance(release, dict) and release.get("release"):
            releases[str(report.get("corpus", path.parent.name))] = release
    return releases


def release_lines(releases: Mapping[str, Dict[str, Any]]) -> List[str]:
    """Lines of the model card naming each Common Voice release and its sha256."""
    lines = []
    for corpus, release in releases.items():
        if release.get("sha256"):
            checked = ("matches the published checksum" if release.get("sha256_known")
                       else "no published checksum to compare: recorded at import")
            lines.append("- {}: Common Voice release `{}`, sha256 `{}` ({}).".format(
                corpus, release["release"], release["sha256"], checked))
        else:
            lines.append("- {}: Common Voice release `{}`, imported from an extracted folder (no archive, no "
                         "sha256).".format(corpus, release["release"]))
    return lines


def lineage_lines(train: Mapping[str, Any]) -> List[str]:
    """Model card lines naming the runs and releases a warm-started model descends from, oldest first."""
    warm = train.get("warm_start") or {}
    if not warm.get("lineage"):
        return []
    lines = ["", "Warm-started from the model of the last successful run; it descends from:", ""]
    for step in warm["lineage"]:
        lines.append("- run `{}`: {}".format(step.get("run_id"), " + ".join(
            "`{}`".format(name) for name in (step.get("chain") or [step.get("release")]))))
    return lines


def built_with(train: Mapping[str, Any]) -> str:
    """The images and code revisions that trained and packaged the model."""
    def named(identity: Mapping[str, Any]) -> str:
        return "image `{}` (code revision `{}`)".format(identity.get("image", "unknown"),
                                                        identity.get("code_revision", "unknown"))

    trained = "trained in {}".format(named(train["trained_in"])) if train.get("trained_in") else \
        "trained in an image that did not record itself"
    return "Built: {}; packaged in {}.".format(trained, named(image_identity()))


def trained_parameters(training: Optional[Mapping[str, Any]], params: Mapping[str, Any]) -> Dict[str, Any]:
    """The parameters the model was trained with (the train step's result), else the run's own."""
    if not training:
        return dict(params)
    trained_with = dict(training.get("parameters") or params)
    trained_with.setdefault("enable_augments", False)  # the train step records augmentation only when on
    return trained_with


def model_card(pack: LanguagePack, root: DataRoot, params: Mapping[str, Any],
               artifacts: Mapping[str, Dict[str, Any]], training: Optional[Mapping[str, Any]] = None,
               summary: Optional[Mapping[str, Any]] = None, tuned: Optional[Mapping[str, Any]] = None) -> str:
    """The Markdown model card: identity, lineage, training, results, artifacts.

    ``training``, ``summary`` and ``tuned`` are the train, test and optimize-lm steps' results (None: not
    run), read by the caller from the paths it was given.
    """
    meta = pack.metadata
    train = dict(training or {})
    trained_with = trained_parameters(training, params)
    lines = ["# {} {} ({})".format(meta.model_name, meta.model_version, meta.language), "", meta.description, "",
             "| | |", "|---|---|"]
    for key, value in (("author", meta.author), ("contact", meta.contact_info), ("licence", meta.license),
                       ("runtime", "stt {} to {} (TFLite)".format(meta.min_stt_version, meta.max_stt_version))):
        lines.append("| {} | {} |".format(key, value))
    report_page = (root.reports / "report.html").relative_to(root.root).as_posix()
    lines += ["", "Plots of the corpora, the training and the results: [{0}]({0}).".format(report_page)]
    reports = corpus_reports(root)
    lines += ["", "## Training data (lineage)", "", "| corpus | train clips | dev clips | test clips | hours kept | "
              "dropped by importer |", "|---|---:|---:|---:|---:|---|"]
    for corpus, report in reports.items():
        kept = report.get("kept", {})
        dropped = ", ".join("{} {}".format(n, reason) for reason, n in sorted(report.get("dropped", {}).items()))
        lines.append("| {} | {} | {} | {} | {:.2f} | {} |".format(
            corpus, *(kept.get(s, {}).get("clips", 0) for s in ("train", "dev", "test")),
            float(report.get("kept_hours", 0.0)), dropped or "none"))
    releases = release_lines(corpus_releases(root))
    if releases:
        lines += [""] + releases
    lines += ["", "## Training", "", "| parameter | value |", "|---|---|"]
    for name in sorted(trained_with):
        value = trained_with[name]
        shown = " ".join("`{}`".format(v) for v in value) if isinstance(value, list) else value
        lines.append("| {} | {} |".format(name, shown))
    if train:
        lines += ["", "Trained {} epochs ({} steps), best dev checkpoint `{}`, n_hidden {}{}.".format(
            train.get("epochs"), train.get("global_step"), Path(str(train.get("best_dev_checkpoint"))).name,
            train.get("n_hidden"),
            ", fine-tuned from `{}`".format(train["transfer"]["checkpoint_dir"]) if train.get("transfer") else "")]
        if train.get("effective_batch_size"):  # one tower per GPU: each step trains on batch_size x GPUs clips
            towers = len(train.get("gpus") or [])
            lines += ["", "Effective batch: {} clips per step ({}).".format(
                train["effective_batch_size"], "{} GPUs".format(towers) if towers else "on the CPU")]
        lines += lineage_lines(train)
    lines += ["", "Software: " + ", ".join("{} {}".format(k, v) for k, v in sorted(software_versions().items())) + ".",
              "", built_with(train)]
    lines += ["", "## Results", ""]
    if summary:
        decoder = summary["decoder"]
        lines += ["Decoder: beam width {}, lm_alpha {:.4f}, lm_beta {:.4f} ({}), scorer {}.".format(
            decoder["beam_width"], decoder["lm_alpha"], decoder["lm_beta"], decoder["alpha_beta_from"],
            "`{}`".format(Path(decoder["scorer"]).name) if decoder["scorer"] else "none"), "",
            "| test set | clips | WER | CER |", "|---|---:|---:|---:|"]
        for csv_path, rates in sorted(summary["test"]["per_csv"].items()):
            lines.append("| {} | {} | {:.3f} | {:.3f} |".format(Path(csv_path).name, rates["clips"], rates["wer"],
                                                               rates["cer"]))
        overall = summary["test"]["overall"]
        lines.append("| **overall** | {} | {:.3f} | {:.3f} |".format(overall["clips"], overall["wer"], overall["cer"]))
    else:
        lines.append("Not tested (no test summary).")
    if tuned:
        lines += ["", "Decoder tuned on the dev sets ({} trials): lm_alpha {:.4f}, lm_beta {:.4f}, dev {} {:.4f}."
                  .format(tuned["trials"], tuned["lm_alpha"], tuned["lm_beta"], tuned["metric"], tuned["wer"])]
    lines += ["", "## Artifacts", "", "| file | bytes | sha256 |", "|---|---:|---|"]
    for name, record in sorted(artifacts.items()):
        lines.append("| {} | {} | `{}` |".format(name, record["size"], record["sha256"]))
    return "\n".join(lines) + "\n"


def optional_input(given: Optional[Path], default: Path, what: str) -> Optional[Path]:
    """The artifact given; None (with a warning) when none was: the run did not produce it (decoder tuning
    not asked for), and a file an earlier run left at ``default`` must not be described as this model's."""
    if given is not None:
        return given
    LOG.warning("no %s given (its step did not run; %s is not read): the model card says so", what, default)
    return None


def package_inputs(root: DataRoot, params: Mapping[str, Any], model_members: List[Tuple[Path, str]],
                   checkpoint: List[Path], model_zip: Path,
                   records: Mapping[str, Optional[Path]]) -> Dict[str, Any]:
    """Everything the archives and the card depend on, by content: a re-run with none of it changed skips."""
    return {
        "model": [dict(file_fingerprint(p), name=name) for p, name in model_members],
        "checkpoint": [file_fingerprint(p) for p in checkpoint],
        "zip": file_fingerprint(model_zip),
        "records": {name: file_fingerprint(path) if path else None for name, path in sorted(records.items())},
        "corpus_reports": [file_fingerprint(p) for p in sorted(root.data.glob("*/*_report.json"))],
        "parameters": dict(params),
        "software": software_versions(),
        "packaged_in": image_identity(),
        "writer": WRITER,
    }


def package(root: DataRoot, pack: LanguagePack, params: Mapping[str, Any], model: Optional[Path] = None,
            alphabet: Optional[Path] = None, scorer: Optional[Path] = None, model_zip: Optional[Path] = None,
            test_summary: Optional[Path] = None, training: Optional[Path] = None,
            tuning: Optional[Path] = None) -> Dict[str, Any]:
    """Write the archives, the zip copy and the model card into the data root.

    ``model``, ``alphabet``, ``scorer`` and ``model_zip`` default to the export, alphabet and lm steps'
    outputs (no scorer when absent); ``training``, ``test_summary`` and ``tuning`` (the train, test and
    optimize-lm steps' results) to theirs when present. The same inputs give the same bytes.
    """
    model = model or root.model
    alphabet = alphabet or root.alphabet
    model_zip = model_zip or root.models / (pack.export_zip_name + ".zip")
    for required, step in ((model, "export"), (alphabet, "alphabet"), (model_zip, "export")):
        if not required.is_file():
            raise BadInputError("{} is missing: run the {} step first.".format(required, step))
    scorer = scorer_path(root, scorer)
    model_members = [(model, model.name), (alphabet, alphabet.name)]
    if scorer:
        model_members.append((scorer, scorer.name))
    else:
        LOG.warning("no scorer at %s: the model archive holds the acoustic model and alphabet only", root.scorer)
    checkpoint = checkpoint_members(root.checkpoints)
    records = {"training": optional_input(training, root.training, "training record"),
               "test_summary": optional_input(test_summary, root.test_summary, "test summary"),
               "tuning": optional_input(tuning, root.tuning, "decoder tuning")}
    lang = pack.code
    outputs = {
        "model_archive": root.root / "model_tflite_{}.tar.xz".format(lang),
        "checkpoint_archive": root.root / "checkpoint_{}.tar.xz".format(lang),
        "model_zip": root.root / model_zip.name,
        "model_card": root.root / "model_card_{}.md".format(lang),
    }
    inputs = package_inputs(root, params, model_members, checkpoint, model_zip, records)
    marker = CompletionMarker(root.root, MARKER)
    if marker.is_current(inputs):
        LOG.info("already packaged (%s): nothing to do", marker.path)
        return dict(marker.outputs(), skipped=True)
    LOG.info("packaging %s", outputs["model_archive"])
    write_tar_xz(outputs["model_archive"], model_members)
    LOG.info("packaging %s (%d files)", outputs["checkpoint_archive"], len(checkpoint))
    write_tar_xz(outputs["checkpoint_archive"], [(p, p.name) for p in checkpoint],
                 rewrite={"best_dev_checkpoint": relative_state})
    with atomic_path(outputs["model_zip"]) as tmp:
        shutil.copyfile(str(model_zip), str(tmp))
    artifacts = {outputs[k].name: {"size": outputs[k].stat().st_size, "sha256": sha256_file(outputs[k])}
                 for k in ("model_archive", "checkpoint_archive", "model_zip")}
    artifacts[model.name] = {"size": model.stat().st_size, "sha256": sha256_file(model)}
    loaded = {name: _json(path) if path else None for name, path in records.items()}
    write_text_atomic(outputs["model_card"], model_card(pack, root, params, artifacts, training=loaded["training"],
                                                        summary=loaded["test_summary"], tuned=loaded["tuning"]))
    result: Dict[str, Any] = {k: str(v) for k, v in outputs.items()}
    result["artifacts"] = artifacts
    marker.write(inputs, list(outputs.values()), result)
    return dict(result, skipped=False)
