"""``python -m stt_tasks.training.launch MODULE [ARGS...]``: run a coqui module on TensorFlow 2.

Installs the compatibility layer, then runs ``MODULE`` as ``__main__`` with ``ARGS`` as its command
line, exactly as ``python -m MODULE ARGS`` would on TensorFlow 1.15. Steps start coqui this way in a
subprocess, which keeps coqui's globals (its Config singleton, graph, sessions) out of our process.
"""

from __future__ import annotations

import runpy
import sys
from typing import List, Optional

from stt_tasks.training import compat

USAGE = "usage: python -m stt_tasks.training.launch coqui_stt_training.MODULE [--flag value ...]"


def main(argv: Optional[List[str]] = None) -> int:
    """Run the coqui module named by ``argv[0]`` with the rest as its arguments."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0].startswith("-"):
        sys.stderr.write(USAGE + "\n")
        return 2
    module, module_args = args[0], args[1:]
    compat.install(module_args)
    sys.argv = [module] + module_args
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
