"""Progress lines a person can follow: rate and ETA from the recent pace, a first line early, durations
in words; the train step's one line per epoch with its time and the ETA of the rest."""

from __future__ import annotations

import logging
import re
import time

import pytest

from tests.log_capture import Captured
from stt_tasks.progress import LOG, Progress, duration_text
from stt_tasks.training.resume import LossHistory


@pytest.fixture
def log_lines():
    captured = Captured()
    LOG.addHandler(captured)
    level = LOG.level
    LOG.setLevel(logging.INFO)
    yield captured.messages
    LOG.removeHandler(captured)
    LOG.setLevel(level)


def test_durations_read_as_words():
    assert [duration_text(s) for s in (0.4, 45, 83, 3599, 7384)] == ["0 s", "45 s", "1 min 23 s", "59 min 59 s",
                                                                    "2 h 03 min"]


def test_the_eta_follows_the_recent_pace(log_lines):
    """Fast at first (clips a resumed import already had), then slow: the ETA is the slow pace's."""
    progress = Progress("import cv-fr", 1000, unit="clips", interval=0.05)
    progress.advance(900)  # nothing logged yet: no line before the interval
    time.sleep(0.06)
    progress.advance(1)  # first line: 901 clips in 0.06 s
    time.sleep(0.3)
    progress.advance(9)  # 9 clips in 0.3 s: about 30 clips/s, 90 to go
    lines = [m for m in log_lines if m.startswith("import cv-fr")]
    assert len(lines) == 2, log_lines
    match = re.match(r"^import cv-fr: 910/1000 clips \(91%\), ([\d.]+) clips/s, ETA (\d+) s$", lines[-1])
    assert match, lines[-1]
    rate, eta = float(match.group(1)), int(match.group(2))
    assert 15 < rate < 40 and 2 <= eta <= 6  # the average since the start would say about 0 s
    progress.finish()
    assert re.match(r"^import cv-fr: 910/1000 clips .*\(done in \d+ s\)$", log_lines[-1]), log_lines[-1]


def test_an_unbounded_count_shows_its_rate(log_lines):
    progress = Progress("scan cv-fr", None, unit="records", interval=0.0)
    progress.advance(5)
    assert re.match(r"^scan cv-fr: 5 records, [\d.]+ records/s$", log_lines[-1]), log_lines


COQUI_EPOCH = ("Training epoch {e}...", "Finished training epoch {e} - loss: {loss:f}",
               "Validating epoch {e} on /mnt/extracted/data/cv-fr/cv-fr_dev.csv...",
               "Finished validating epoch {e} on /mnt/extracted/data/cv-fr/cv-fr_dev.csv - loss: {dev:f}",
               "I Saved new best validating model with loss 1.0 to: /mnt/checkpoints/best_dev-12", "-" * 80)


class Clock:
    """Seconds as coqui's lines arrive: each epoch takes 90 s (graph building before the first, 30 s)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_finished_epoch_is_one_line_with_its_time_and_the_eta(tmp_path, log_lines):
    clock = Clock()
    history = LossHistory(tmp_path / "training_history.json", planned_epochs=4, clock=clock)
    for epoch in range(3):
        for line in COQUI_EPOCH:
            if line.startswith("Training epoch"):
                clock.now += 30 if epoch == 0 else 0  # building the graph is not the epoch's time
            history.feed(line.format(e=epoch, loss=100.0 / (epoch + 1), dev=110.0 / (epoch + 1)))
            if line.startswith("Finished training"):
                clock.now += 90
    epochs = [m for m in log_lines if m.startswith("epoch ")]
    assert epochs == [
        "epoch 1/4: train loss 100.000, dev loss 110.000 (cv-fr_dev.csv), 1 min 30 s; 3 to go, ETA 4 min 30 s",
        "epoch 2/4: train loss 50.000, dev loss 55.000 (cv-fr_dev.csv), 1 min 30 s; 2 to go, ETA 3 min 00 s",
        "epoch 3/4: train loss 33.333, dev loss 36.667 (cv-fr_dev.csv), 1 min 30 s; 1 to go, ETA 1 min 30 s",
    ]
    # a resumed training numbers its epochs after the recorded ones; without a plan, no ETA
    resumed = LossHistory(tmp_path / "training_history.json", clock=clock)
    for line in COQUI_EPOCH:
        history_line = line.format(e=0, loss=20.0, dev=25.0)
        resumed.feed(history_line)
    assert log_lines[-1] == "epoch 4: train loss 20.000, dev loss 25.000 (cv-fr_dev.csv), 0 s"
    assert [e["epoch"] for e in resumed.epochs] == [0, 1, 2, 3]
