#!/usr/bin/env bash
# A Python 3.9 virtual environment with Coqui's CTC decoder (coqui-stt-ctcdecoder 1.4.0, wheels
# only up to Python 3.9), in which tests load our scorer packages with the real decoder.
# Idempotent: does nothing when the venv already imports the decoder. Usage: ctcdecoder-venv.sh [DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-$here/.tools/ctcdecoder-venv}"
python39="${PYTHON39:-}"
for candidate in /root/.pyenv/versions/3.9.18/bin/python3.9 "$(command -v python3.9 || true)"; do
    if [ -z "$python39" ] && [ -n "$candidate" ] && [ -x "$candidate" ]; then
        python39="$candidate"
    fi
done
if [ -z "$python39" ]; then
    echo "no Python 3.9 found: install it (pyenv install 3.9) or set PYTHON39" >&2
    exit 1
fi
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import coqui_stt_ctcdecoder" 2>/dev/null; then
    echo "decoder venv ready in $venv"
    exit 0
fi
rm -rf "$venv"
"$python39" -m venv "$venv"
# The 1.4.0 wheel is compiled against NumPy 1.x.
"$venv/bin/python" -m pip install -q --disable-pip-version-check "coqui-stt-ctcdecoder==1.4.0" "numpy<2"
echo "decoder venv ready in $venv"
