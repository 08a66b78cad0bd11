"""The report step: every section and figure from a finished run's artifacts, intervals that behave,
the same bytes from the same inputs, a skip when nothing changed, and a page that fits a phone."""

from __future__ import annotations

import base64
import json
import random
import re
import shutil
import subprocess

import pytest

from stt_tasks import cli
from stt_tasks.errors import BadInputError
from stt_tasks.layout import DataRoot
from stt_tasks.report import build_report
from stt_tasks.report.stats import ClipErrors, estimate
from tests.report.fixtures import CV_RELEASE, CV_SHA256, finished_run

RUN_ID = "scheduled__2026-12-01T09:00:00+00:00"
STARTED = "2026-12-01T09:00:00.123456+00:00"
IMG = re.compile(r'<img alt="([^"]*)" src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)">')


@pytest.fixture
def run(tmp_path):
    root = DataRoot(tmp_path / "data")
    return root, finished_run(root)


def build(root, fr_pack, given, **kwargs):
    kwargs.setdefault("run_id", RUN_ID)
    kwargs.setdefault("run_started", STARTED)
    return build_report(root, fr_pack, {"n_hidden": 2048, "epochs": 4, "lm_evaluate_range": [2.0, 2.0, 7]},
                        **kwargs, **given)


def test_the_report_of_a_finished_run_has_every_section_and_figure(run, fr_pack, monkeypatch):
    monkeypatch.setenv("STT_IMAGE", "stt-tasks-cpu")
    monkeypatch.setenv("STT_CODE_REVISION", "1a2b3c4")
    root, given = run
    result = build(root, fr_pack, given)
    assert result["missing"] == [] and not result["skipped"]
    assert len(result["plots"]) == 6
    page = (root.reports / "runs" / RUN_ID / "report.html").read_text()
    assert result["run_report"] == str(root.reports / "runs" / RUN_ID / "report.html")
    for section in ("run", "results", "data", "training", "decoder", "samples", "parameters", "artifacts"):
        assert '<section id="{}">'.format(section) in page, section
    images = IMG.findall(page)
    assert len(images) == 6 == page.count("<img ")
    for alt, data in images:
        svg = base64.b64decode(data)
        assert svg.startswith(b"<?xml") and b"<svg" in svg and len(svg) > 2000, alt
    # the header: which run, which release, which code
    assert "<code>{}</code>".format(RUN_ID) in page and STARTED in page
    assert CV_RELEASE in page and CV_SHA256 in page
    assert "image <code>stt-tasks-gpu</code>, code revision <code>9f8e7d6</code>" in page  # trained in
    assert "image <code>stt-tasks-cpu</code>, code revision <code>1a2b3c4</code>" in page  # reported in
    # results with intervals, per corpus and overall
    summary = json.loads(given["test_summary"].read_text())
    overall = summary["test"]["overall"]
    assert re.search(r"<td>cv-fr_test\.csv</td><td class=\"n\">48</td><td class=\"n\">[\d.]+ % <small>\[[\d.]+–[\d.]+\]",
                     page)
    # data: hours per split, dropped clips with their examples
    assert "invalid_label" in page and "validated.tsv:12: &#x27;hello &lt;b&gt;world&lt;/b&gt;&#x27;" in page
    # tuning: the best trial marked; parameters: the trained value beside the run's
    assert '<tr class="best"><td class="n">2</td><td class="n">0.4000</td><td class="n">1.3000</td>' in page
    assert "<td>n_hidden</td><td><code>2048</code></td><td><code>200</code></td>" in page
    # every artifact linked relative to the page, with its size and sha256
    card = given["model_card"]
    assert '<a href="../../../model_card_fr.md">model_card_fr.md</a>' in page
    import hashlib
    assert hashlib.sha256(card.read_bytes()).hexdigest() in page
    # the latest report links from its own place
    latest = (root.reports / "report.html").read_text()
    assert '<a href="../model_card_fr.md">model_card_fr.md</a>' in latest
    # the summary the reports view lists runs from
    listed = json.loads((root.reports / "runs" / RUN_ID / "summary.json").read_text())
    assert listed["run_id"] == RUN_ID and listed["release"] == CV_RELEASE and listed["test_wer"] == overall["wer"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", listed["finished"]) and listed["started"] == STARTED
    low, high = listed["test_wer_ci95"]
    assert low < overall["wer"] < high


def test_intervals_contain_the_estimate_and_narrow_with_more_clips():
    rng = random.Random(3)

    def clips(count):
        errors = []
        for _ in range(count):
            words = rng.randint(3, 12)
            wrong = sum(rng.random() < 0.3 for _ in range(words))
            errors.append(ClipErrors(wrong, words, 2 * wrong, 5 * words))
        return errors

    few, many = estimate(clips(40), "cv-fr_test.csv"), estimate(clips(1000), "cv-fr_test.csv")
    for found in (few, many):
        assert found.wer_interval.contains(found.wer) and found.cer_interval.contains(found.cer)
        assert 0.15 < found.wer < 0.45
    assert many.wer_interval.width < few.wer_interval.width / 3  # about 1/sqrt(25)
    same = clips(200)
    assert estimate(same, "a") == estimate(list(same), "a")  # seeded: the same clips, the same interval
    assert estimate(same[:1], "a").wer_interval is None  # one clip: no interval


def test_the_same_inputs_give_the_same_bytes_and_a_rerun_skips(run, fr_pack):
    root, given = run
    first = build(root, fr_pack, given)
    pages = [root.reports / "report.html", root.reports / "runs" / RUN_ID / "report.html",
             root.reports / "runs" / RUN_ID / "summary.json"]
    written = {p: p.read_bytes() for p in pages}
    stamps = {p: p.stat().st_mtime_ns for p in pages}
    again = build(root, fr_pack, given)
    assert again["skipped"] and {p: p.stat().st_mtime_ns for p in pages} == stamps
    (root.reports / "runs" / RUN_ID / ".report.completed.json").unlink()
    for path in pages:
        path.unlink()
    rebuilt = build(root, fr_pack, given)
    assert not rebuilt["skipped"] and {p: p.read_bytes() for p in pages} == written
    assert rebuilt["latest_sha256"] == first["latest_sha256"]
    # another run's report becomes the latest; this run's folder keeps its own
    other = build(root, fr_pack, given, run_id="manual__later")
    assert not other["skipped"] and "manual__later" in (root.reports / "report.html").read_text()
    assert (root.reports / "runs" / RUN_ID / "report.html").read_bytes() == written[pages[1]]


def test_a_run_that_stopped_early_says_what_is_missing(tmp_path, fr_pack):
    root = DataRoot(tmp_path / "data")
    finished_run(root, release=False)
    result = build_report(root, fr_pack)  # from the CLI: a manual run, nothing given
    assert result["run_id"] == "manual" and len(result["plots"]) == 3  # the corpora's figures only
    assert any("test step did not run" in m for m in result["missing"])
    listed = json.loads((root.reports / "runs" / "manual" / "summary.json").read_text())
    assert listed["test_wer"] is None and listed["release"] is None and listed["started"] is None
    page = (root.reports / "report.html").read_text()
    assert "Not tested: the test step did not run." in page and "not recorded in the import reports" in page


def test_a_given_input_that_does_not_exist_is_one_line_naming_it(run, fr_pack):
    root, given = run
    given["tuning"] = root.lm / "nope.json"
    with pytest.raises(BadInputError, match="nope.json"):
        build(root, fr_pack, given)
    with pytest.raises(BadInputError, match="run-id"):
        build(root, fr_pack, dict(given, tuning=None), run_id="..")


def test_the_cli_takes_the_run_id(run, capsys):
    root, given = run
    argv = ["report", "--data-root", str(root.root), "--run-id", "manual__cli"] + [
        "--{}={}".format(name.replace("_", "-"), path) for name, path in given.items()]
    assert cli.main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["run_id"] == "manual__cli" and result["missing"] == []
    assert (root.reports / "runs" / "manual__cli" / "summary.json").is_file()


def test_the_page_is_made_for_phones_too(run, fr_pack):
    root, given = run
    build(root, fr_pack, given)
    page = (root.reports / "report.html").read_text()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "figure img { display: block; width: 100%" in page and "height: auto" in page
    assert page.count('<div class="scroll"><table>') == page.count("<table>")  # wide tables scroll in their box


PHONE_WIDTH = 390


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_at_phone_width_nothing_overflows_the_screen(run, fr_pack, tmp_path):
    """Headless chromium lays the page out 390 px wide: the document is no wider than the screen and every
    image is drawn (a screenshot is kept beside the page)."""
    root, given = run
    build(root, fr_pack, given)
    page = (root.reports / "report.html").read_text()
    probe = ("<script>window.addEventListener('load', function () {"
             "var imgs = Array.prototype.slice.call(document.images);"
             "document.title = JSON.stringify({width: document.documentElement.scrollWidth, screen: window.innerWidth, "
             "drawn: imgs.filter(function (i) { return i.naturalWidth > 0 && i.clientWidth > 0 && "
             "i.getBoundingClientRect().right <= window.innerWidth; }).length, images: imgs.length}); });</script>")
    probed = tmp_path / "probe.html"
    probed.write_text(page.replace("</body>", probe + "</body>"))
    browser = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--window-size={},900".format(PHONE_WIDTH)]
    dom = subprocess.run(browser + ["--virtual-time-budget=3000", "--dump-dom", probed.as_uri()],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=120, check=True).stdout.decode()
    measured = json.loads(re.search(r"<title>(\{.*?\})</title>", dom).group(1).replace("&quot;", '"'))
    assert measured["images"] == 6 and measured["drawn"] == 6, measured
    # chromium lays a window out at least 500 px wide; the page must not need more than it has
    assert measured["screen"] <= 500 and measured["width"] <= measured["screen"], measured
    subprocess.run(browser + ["--screenshot={}".format(tmp_path / "phone.png"), (root.reports / "report.html").as_uri()],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120, check=True)
    assert (tmp_path / "phone.png").stat().st_size > 10000
