"""Steps of the French STT pipeline, run inside the training containers.

Each step is one ``python -m stt_tasks <step>`` command whose last stdout line is a JSON object
naming what it produced; see :mod:`stt_tasks.cli`. This package never imports Airflow.
"""

__version__ = "0.1.0"
