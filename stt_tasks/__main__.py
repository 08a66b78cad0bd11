"""Entry point for ``python -m stt_tasks``."""

import sys

from stt_tasks.cli import main

sys.exit(main())
