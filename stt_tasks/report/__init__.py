"""The report step: a self-contained HTML report of a training run, per run and the latest.

``evidence`` reads the artifacts the step is given, ``stats`` computes the WER/CER bootstrap
intervals, ``plots`` draws the figures (matplotlib, SVG), ``page`` writes the HTML and ``step`` ties
them together: :func:`build_report`.
"""

from stt_tasks.report.step import build_report

__all__ = ["build_report"]
