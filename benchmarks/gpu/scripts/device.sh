#!/usr/bin/env bash
# The GPU run, one command on the device machine, from the repository's root:
#
#   bash benchmarks/gpu/scripts/device.sh [--vars.NAME=VALUE ...]
#
# with benchmarks/gpu/wheels/device-wheels.tar.xz carried (made here by `spacy project run
# wheels` in benchmarks/gpu). It installs the carried wheels with pip into a folder of their own
# (first on the path, before the machine's newer transformers and friends; the product's code
# itself comes from the working tree), checks the stack (scripts/stack.py), then runs the
# benchmark project's `benchmark` command (extra arguments go to it), cut at BENCHMARK_LIMIT
# seconds so that the whole script ends inside 6 minutes: the report is written after every
# child, so a cut run keeps what it measured. The report, its tables and the log land in $OUT.
# To try it on a CPU: GPU_ID=-1 ARCHIVE=<a cp311 archive> bash ... --vars.shape=tiny ... (README).
set -euo pipefail
started=$SECONDS
out=${OUT:-/tmp/multinerd-gpu-out}
limit=${BENCHMARK_LIMIT:-310}
gpu_id=${GPU_ID:-0}
archive=${ARCHIVE:-benchmarks/gpu/wheels/device-wheels.tar.xz}
site=/tmp/multinerd-site
wheels=/tmp/multinerd-wheels
mkdir -p "$out" "$wheels"
python3 -c 'import sys, tarfile; safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
tarfile.open(sys.argv[1]).extractall(sys.argv[2], **safe)' "$archive" "$wheels"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" "$wheels"/*.whl
export PYTHONPATH="$PWD/scripts:$site${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
echo "device.sh: installed in $((SECONDS - started)) s"
cd benchmarks/gpu
python3 scripts/stack.py --gpu-id "$gpu_id" | tee "$out/stack.json"
status=0
timeout "$limit" python3 -m spacy project run benchmark . --vars.gpu_id="$gpu_id" --vars.output="$out/gpu" "$@" 2>&1 \
  | tee "$out/log.txt" \
  || status=$?
echo "device.sh: exit $status after $((SECONDS - started)) s"
exit "$status"
