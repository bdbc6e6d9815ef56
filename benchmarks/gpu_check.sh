#!/usr/bin/env bash
# The kit's GPU check, in one short run (under 10 minutes): every notebook executed top to
# bottom on the GPU (`benchmarks/notebook_times.py --device cuda`, which records per notebook
# whether every cell, asserts included, ran), short GPU runs of the benchmarks (MAML speed and
# memory; ProtoNet on the vinyals split when Omniglot is there), then the library's unit tests
# with CUDA visible.
#
#   bash benchmarks/gpu_check.sh OUT_DIR [DATA_DIR]
#
# OUT_DIR receives notebook_times.json/.md/.png and pytest.log; copy the JSON to
# benchmarks/results/gpu/ and run `python tools/sync_run_times.py` to quote it in the headers
# and the README. DATA_DIR is a data root holding omniglot-py/ (default: $KDMETA_DATA).
# On a machine with no internet access, install the Python packages first (wheels, see
# benchmarks/README.md); torch and torchvision are used as installed.
set -uo pipefail
out="${1:?usage: gpu_check.sh OUT_DIR [DATA_DIR]}"
mkdir -p "$out"
export KDMETA_DATA="${2:-${KDMETA_DATA:-}}"
export KDMETA_CACHE="$(mktemp -d)"   # an empty cache: the teachers are trained, as on a first run
export KDMETA_PROGRESS=0 PYTHONUNBUFFERED=1 MPLBACKEND=Agg
export PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}"
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; \
print('GPU check on', torch.cuda.get_device_name(0), 'torch', torch.__version__)" || exit 1

start=$(date +%s)
python3 benchmarks/notebook_times.py --device cuda --minutes "${GPU_CHECK_MINUTES:-6}" --out "$out"
echo "notebooks: $(( $(date +%s) - start )) s"
# the benchmarks, briefly: the figures show that the GPU paths run, not the papers' accuracy
python3 benchmarks/maml_speed.py --device cuda --minutes 1 --rounds 1 --inner-steps 1 \
    --methods plain,kit_loop,kit_vmap,kit_batched --out "$out" || echo "maml_speed failed"
if [ -n "$KDMETA_DATA" ] && [ -e "$KDMETA_DATA/omniglot-py" ]; then
    python3 benchmarks/omniglot_accuracy.py --device cuda --split vinyals --algorithms protonet \
        --minutes 1 --episodes 100 --profile-steps 0 --out "$out" || echo "omniglot_accuracy failed"
fi
echo "benchmarks: $(( $(date +%s) - start )) s"
notebooks_ok=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['results']['all_ok'])" \
    "$out/notebook_times.json")
python3 -m pytest -q -x -p no:cacheprovider tests/test_runtime.py tests/test_protonet.py \
    tests/test_maml.py tests/test_fused.py tests/test_distillation.py >"$out/pytest.log" 2>&1
tests_rc=$?
tail -5 "$out/pytest.log"
echo "GPU check: finished in $(( $(date +%s) - start )) s; every notebook ran: $notebooks_ok; unit tests rc $tests_rc"
[ "$notebooks_ok" = True ] && [ "$tests_rc" = 0 ]  # the script's exit status: 0 only if all passed
