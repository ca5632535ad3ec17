#!/usr/bin/env bash
# GPU checks of the training paths, each in one process (no Ray needed): bitsandbytes 4-/8-bit
# layers that really train, DeepSpeed ZeRO-2 driving the step and resuming exactly, a merged
# QLoRA export generating what its adapter generates, fp32 adapter weights under bf16, then
# the GPU section of bench/train_throughput.py (tokens/s, peak memory, MFU on a 1B-class model).
#
#   bench/gpu_check.sh [WHEEL_DIR]        (or CODESWEEP_WHEELS=WHEEL_DIR bench/gpu_check.sh)
#
# WHEEL_DIR: wheels to install first, offline (pip --no-index), e.g. bitsandbytes, deepspeed
# and whatever else the machine lacks. Prints one line per check and exits non-zero when a
# check fails, is skipped, or something it needs is missing: nothing passes by being absent.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python}
WHEELS=${1:-${CODESWEEP_WHEELS:-}}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
REPORT=$(mktemp -d "${TMPDIR:-/tmp}/codesweep-gpu-check-XXXXXX")

fail() { echo "gpu_check: FAIL $*" >&2; exit 1; }

if [[ -n "$WHEELS" ]]; then
  [[ -d "$WHEELS" ]] || fail "wheel folder $WHEELS does not exist"
  shopt -s nullglob
  wheels=("$WHEELS"/*.whl)
  [[ ${#wheels[@]} -gt 0 ]] || fail "no .whl files in $WHEELS"
  "$PYTHON" -m pip install --quiet --no-index --find-links "$WHEELS" "${wheels[@]}" \
    || fail "pip install --no-index from $WHEELS"
fi

# Everything the checks import, and a GPU; ray must not be needed on this path.
"$PYTHON" - <<'EOF' || fail "environment (see above); pass a wheel folder with what is missing"
import importlib.util, sys
needed = ["torch", "transformers", "peft", "accelerate", "safetensors", "tokenizers", "pandas",
          "pyarrow", "pydantic", "yaml", "typer", "pytest", "bitsandbytes", "deepspeed"]
missing = [name for name in needed if importlib.util.find_spec(name) is None]
if missing:
    sys.exit(f"gpu_check: missing modules: {', '.join(missing)}")
import torch
if not torch.cuda.is_available():
    sys.exit("gpu_check: torch sees no CUDA device")
sys.modules["ray"] = None  # the single-process training path must not import ray
import codesweep.export, codesweep.train.local  # noqa: E401,F401
print(f"gpu_check: {torch.cuda.get_device_name()}, torch {torch.__version__}")
EOF

status=0
timeout 270 "$PYTHON" -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu_training.py \
  --junitxml="$REPORT/gpu.xml" >"$REPORT/pytest.log" 2>&1 || status=$?
[[ -f "$REPORT/gpu.xml" ]] || { tail -40 "$REPORT/pytest.log"; fail "pytest (status $status)"; }
"$PYTHON" - "$REPORT/gpu.xml" <<'EOF' || status=1
import sys, xml.etree.ElementTree as ET
bad = 0
for case in ET.parse(sys.argv[1]).iter("testcase"):
    outcome = next((c for c in case if c.tag in ("failure", "error", "skipped")), None)
    word = "PASS" if outcome is None else outcome.tag.upper().replace("FAILURE", "FAIL")
    why = "" if outcome is None else "  " + (outcome.get("message") or "").splitlines()[0][:120]
    bad += outcome is not None  # a skip is a failure here: the check did not run
    print(f"check {case.get('name'):60s} {word:7s} {float(case.get('time', 0)):6.1f}s{why}")
sys.exit(1 if bad else 0)
EOF
[[ $status -eq 0 ]] || tail -60 "$REPORT/pytest.log"

timeout 200 "$PYTHON" bench/train_throughput.py --gpu-only --steps 20 --report-every 5 \
  2>"$REPORT/bench.err" | tee "$REPORT/bench.out" || { tail -20 "$REPORT/bench.err"; status=1; }
if grep -q "skipped" "$REPORT/bench.out" || ! grep -q "MFU" "$REPORT/bench.out"; then
  echo "gpu_check: FAIL throughput section incomplete" >&2; status=1
fi
echo "gpu_check: $([[ $status -eq 0 ]] && echo PASS || echo FAIL) (logs in $REPORT)"
exit $status
