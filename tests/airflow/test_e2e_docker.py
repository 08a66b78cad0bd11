"""The training DAG end to end with a real Docker engine and the CPU image (``airflow dags test``).

Runs the whole pipeline on the sample corpus (training a small model for 60 epochs; a selected corpus
absent from sources/ is skipped); then kills an importer container mid-way and checks that the task's
second try resumes to the same outputs as an uninterrupted import.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tests.image_runner import IMAGE, needs_image, writable_dir

pytestmark = [pytest.mark.slow, needs_image]


def dags_test(conf, data_dir: Path, **popen):
    env = dict(os.environ, STT_HOST_DATA_DIR=str(data_dir), STT_RETRY_DELAY_SECONDS="0", STT_CPU_IMAGE=IMAGE)
    command = ["airflow", "dags", "test", "stt_fr_training", "-c", json.dumps(conf)]
    if popen:
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800)


def latest_xcoms(dag_id: str):
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).first()
        rows = session.query(XComModel).filter(XComModel.dag_id == dag_id, XComModel.run_id == run.run_id).all()
        return run.state, {row.task_id: row.value for row in rows}


def latest_task_instances(dag_id: str, fields=("state", "try_number")):
    """{task id: (state, try number)} of the DAG's latest run, or the other TaskInstance ``fields`` asked."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).first()
        rows = session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
        return {ti.task_id: tuple(getattr(ti, field) for field in fields) for ti in rows}


def test_pipeline_runs_as_far_as_it_exists(airflow_db, tmp_path, sample_release):
    from airflow.models.variable import Variable

    data = writable_dir(tmp_path / "data")
    writable_dir(data / "sources")
    shutil.copy(sample_release["archive"], str(data / "sources"))
    shutil.copy(sample_release["lm_text"], str(data / "sources"))
    Variable.delete("stt_fr_last_release")
    started = time.monotonic()
    # lingua-libre is selected but its archive is not in sources/ (and download is off): exit 99, skipped
    conf = {"corpora": ["common-voice", "lingua-libre"], "lm_texts": ["sources/sample_lm_fr.txt"], "lm_memory": "1G",
            "lm_top_k": 1000, "batch_size": 8, "n_hidden": 200, "epochs": 60, "learning_rate": 0.002, "dropout": 0.0,
            "early_stop": False, "beam_width": 100, "lm_evaluate_range": "2,2,4"}
    run = dags_test(conf, data)
    elapsed = time.monotonic() - started
    print("\nend-to-end run of the whole pipeline: {:.1f} s".format(elapsed))
    assert run.returncode == 0, run.stdout[-5000:]
    state, xcoms = latest_xcoms("stt_fr_training")
    assert state == "success"
    result = xcoms["importers.common_voice"]
    result = json.loads(result) if isinstance(result, str) else result
    assert result["clips"] == {"train": 96, "dev": 16, "test": 16}
    alphabet = xcoms["alphabet"]
    alphabet = json.loads(alphabet) if isinstance(alphabet, str) else alphabet
    assert alphabet["alphabet"] == "/mnt/models/alphabet.txt"  # paths as the containers see them
    assert (data / "models" / "alphabet.txt").stat().st_uid == 999
    assert "importers.mls" not in xcoms  # not selected: skipped, no result
    tasks = latest_task_instances("stt_fr_training")
    assert tasks["importers.lingua_libre"][0] == "skipped" and "importers.lingua_libre" not in xcoms
    assert "Docker container returned exit code [99]. Skipping." in run.stdout  # the container said so
    lm = xcoms["lm"]
    lm = json.loads(lm) if isinstance(lm, str) else lm
    assert lm["scorer"] == "/mnt/lm/kenlm.scorer" and (data / "lm" / "kenlm.scorer").stat().st_size > 0
    for task_id in ("train", "test", "optimize_lm", "export", "transcribe", "package", "report"):
        assert task_id in xcoms, "{} left no result".format(task_id)
    # each step was given its inputs from the upstream results (the operator logs the command it runs)
    for given in ("--alphabet=/mnt/models/alphabet.txt", "--scorer=/mnt/lm/kenlm.scorer",
                  "--model=/mnt/models/output_graph.tflite"):
        assert given in run.stdout, given
    test = xcoms["test"]
    test = json.loads(test) if isinstance(test, str) else test
    # held-out speaker of the sample corpus after a short over-training: far from perfect, far from 1.0
    print("sample corpus test WER {:.3f}, CER {:.3f}".format(test["wer"], test["cer"]))
    assert test["cer"] < 0.5
    assert (data / "model_tflite_fr.tar.xz").is_file() and (data / "reports" / "report.html").is_file()
    # the release watcher now knows which release the last successful training used
    trained = json.loads(Variable.get("stt_fr_last_release"))["trained"]
    archive = Path(sample_release["archive"])
    assert trained["release"] == archive.name and trained["size"] == archive.stat().st_size
    tuned = json.loads(zip_scorer_defaults(data / "models" / "fr-fr.zip"))
    assert tuned == [pytest.approx(v) for v in (xcom(xcoms, "optimize_lm")["lm_alpha"],
                                                 xcom(xcoms, "optimize_lm")["lm_beta"])]

    # The same run again, nothing changed (a re-triggered or rescheduled run): every step skips its work
    # and no byte of any artifact changes; the released zip still carries the tuned decoder values.
    before = digests(data)
    started = time.monotonic()
    again = dags_test(conf, data)
    print("the same run again, nothing changed: {:.1f} s (first run {:.1f} s)".format(time.monotonic() - started,
                                                                                       elapsed))
    assert again.returncode == 0, again.stdout[-5000:]
    state, xcoms = latest_xcoms("stt_fr_training")
    assert state == "success"
    redone = [task for task, value in xcoms.items() if isinstance(xcom(xcoms, task), dict)
              and xcom(xcoms, task).get("skipped") is False]
    # but the report: a new run gets its own (reports/runs/<run id>/), and the latest page is that run's
    assert redone == ["report"]
    after = digests(data)
    assert sorted(n for n in after if not reported(n)) == sorted(n for n in before if not reported(n))
    assert [name for name in after if not reported(name) and after[name] != before[name]] == []
    assert len({name.split("/")[2] for name in after if name.startswith("reports/runs/")}) == 2
    assert json.loads(zip_scorer_defaults(data / "models" / "fr-fr.zip")) == tuned


def reported(name: str) -> bool:
    """A file the report step writes per run (its folder under reports/runs/) or for the latest run."""
    return name == "reports/report.html" or name.startswith("reports/runs/")


def digests(directory: Path):
    """sha256 of every file under ``directory`` (markers and reports included), by relative path."""
    from stt_tasks.fsio import sha256_file

    return {str(p.relative_to(directory)): sha256_file(p) for p in sorted(directory.rglob("*")) if p.is_file()}


def xcom(xcoms, task_id):
    value = xcoms[task_id]
    return json.loads(value) if isinstance(value, str) else value


def zip_scorer_defaults(model_zip: Path) -> str:
    """The default alpha and beta of the scorer package inside the model zip, as JSON ``[alpha, beta]``."""
    import tempfile
    import zipfile

    from stt_tasks.lm.scorer import read_scorer_defaults

    with tempfile.TemporaryDirectory() as scratch, zipfile.ZipFile(str(model_zip)) as archive:
        defaults = read_scorer_defaults(Path(archive.extract("kenlm.scorer", scratch)))
        return json.dumps([defaults.alpha, defaults.beta])


def larger_release(sample_archive: Path, destination: Path, copies: int) -> Path:
    """The sample release with each training clip repeated ``copies`` times (more work to interrupt)."""
    from stt_tasks.sample_corpus import write_release

    clips, tsvs = [], {}
    with tarfile.open(str(sample_archive)) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith(".mp3"):
                clips.append((Path(member.name).name, tar.extractfile(member).read()))
            elif member.isfile() and member.name.endswith(".tsv"):
                tsvs[Path(member.name).stem] = tar.extractfile(member).read().decode("utf-8")
    payload = dict(clips)
    lines = tsvs["train"].splitlines()
    extra_rows = []
    for k in range(1, copies):
        for line in lines[1:]:
            fields = line.split("\t")
            name = fields[1].replace(".mp3", "_{:03d}.mp3".format(k))
            clips.append((name, payload[fields[1]]))
            extra_rows.append("\t".join([fields[0], name] + fields[2:]))
    tsvs["train"] = "\n".join(lines + extra_rows) + "\n"
    archive = destination / sample_archive.name
    write_release(archive, "fr", clips, {k: v.encode("utf-8") for k, v in tsvs.items()})
    return archive


def running_containers(fragment: str):
    listed = subprocess.run(["docker", "ps", "--format", "{{.Names}}"], capture_output=True, text=True).stdout
    return [name for name in listed.split() if fragment in name]


def snapshot(directory: Path):
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.is_file() and p.name != ".completed.json"}


def test_killed_importer_container_is_retried_to_identical_outputs(airflow_db, tmp_path, sample_release):
    data = writable_dir(tmp_path / "data")
    reference = writable_dir(tmp_path / "reference")
    writable_dir(data / "sources")
    archive = larger_release(Path(sample_release["archive"]), data / "sources", copies=15)
    writable_dir(reference / "sources")
    shutil.copy(str(archive), str(reference / "sources"))
    uninterrupted = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "-v", "{}:/mnt".format(reference), IMAGE, "import", "common-voice"],
        capture_output=True, text=True,
    )
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]

    process = dags_test({"corpora": ["common-voice"], "stop_after": "import"}, data, popen=True)
    clips = data / "extracted" / "data" / "cv-fr" / "clips"
    killed, kill = None, None
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        names = running_containers("importers.common_voice")
        if names and clips.is_dir() and len(list(clips.glob("*.wav"))) >= 100:
            killed = names[0]
            kill = subprocess.run(["docker", "kill", killed], capture_output=True, text=True)
            break
        time.sleep(0.05)
    output, _ = process.communicate(timeout=900)
    assert killed is not None, "the import finished before it could be killed:\n" + output[-3000:]
    assert killed.endswith("-try1")
    assert kill.returncode == 0, "docker kill {} failed (did it end first?): {}".format(killed, kill.stderr)
    assert process.returncode == 0, output[-5000:]
    state, xcoms = latest_xcoms("stt_fr_training")
    assert state == "success"
    # the outputs below come from a second try, not from a first one that finished before the kill
    assert latest_task_instances("stt_fr_training")["importers.common_voice"] == ("success", 2)
    assert killed[: -len("-try1")] + "-try2" in output  # the retry's container, in the task log
    ours = snapshot(data / "extracted" / "data" / "cv-fr")
    theirs = snapshot(reference / "extracted" / "data" / "cv-fr")
    assert sorted(ours) == sorted(theirs)
    assert [name for name in ours if ours[name] != theirs[name]] == []


def test_bad_input_fails_at_once_without_retries(airflow_db, tmp_path):
    data = writable_dir(tmp_path / "data")
    (data / "sources").mkdir()  # owned by root, 755: the container user cannot write there
    run = dags_test({"corpora": ["common-voice"], "stop_after": "preflight"}, data)
    assert run.returncode != 0
    assert "Give the container user (uid 999) write access" in run.stdout
    # exit 2 is not worth a retry: the task failed on its first try although it had retries left
    tasks = latest_task_instances("stt_fr_training", ("state", "try_number", "max_tries"))
    state, try_number, retries = tasks["preflight"]
    assert retries >= 1, "preflight has no retries: failing without one would prove nothing"
    assert (state, try_number) == ("failed", 1)


def test_gpu_preflight_finds_the_token_preflight_wrote(airflow_db, tmp_path, sample_release):
    """One host: the check before the training steps reads the token the run's preflight left in the data root."""
    data = writable_dir(tmp_path / "data")
    writable_dir(data / "sources")
    shutil.copy(sample_release["archive"], str(data / "sources"))
    shutil.copy(sample_release["lm_text"], str(data / "sources"))
    conf = {"corpora": ["common-voice"], "lm_texts": ["sources/sample_lm_fr.txt"], "lm_memory": "1G",
            "lm_top_k": 1000, "stop_after": "gpu_preflight"}
    run = dags_test(conf, data)
    assert run.returncode == 0, run.stdout[-5000:]
    state, xcoms = latest_xcoms("stt_fr_training")
    results = {task: json.loads(value) if isinstance(value, str) else value for task, value in xcoms.items()}
    assert state == "success" and "train" not in results
    token = json.loads((data / ".data-root-token.json").read_text())["token"]
    assert results["preflight"]["data_root_token"] == token == results["gpu_preflight"]["data_root_token"]
    assert results["preflight"]["token_written_in"].startswith(str(data) + " on ")
    assert results["gpu_preflight"]["checked_in"].startswith(str(data) + " on ")
