#!/usr/bin/env bash
# The GPU check of issue 22, one command: bf16/fp16/tf32 and compile-ready training, no host sync per step, the
# zoo against its peers on the same GPU (lenet5 vs the plain loop, dcgan vs PyTorch-GAN's dcgan.py, vgg16/alexnet/
# googlenet train steps vs torchvision and timm), and inference. About 6 minutes on an H100/H200-class GPU; offline.
#
#   bash benchmarks/gpu_check.sh --dry-run [--out DIR]   # here, on the CPU: every stage at tiny size
#   bash benchmarks/gpu_check.sh --out DIR               # on the GPU machine
#   bash benchmarks/gpu_check.sh --dry-run --stages dcgan,steps   # some stages only
#
# The GPU machine reaches no package index. What it lacks travels in the ignored folder .gpu/ (the device tool's
# `carry`, see /work/.library/device/README.md), which `--prepare` fills here, where pip and the caches are:
#   .gpu/whl/    wheels the machine's Python 3.12 lacks (pydantic and its parts; typer and rich, pinned)
#   .gpu/mnist/  MNIST's four IDX files, gzipped, from $ZOO_HOME/data/MNIST/raw
#   .gpu/peer/   dcgan.py of eriklindernoren/PyTorch-GAN (MIT), a scratch copy: never committed
# then, from a session whose device tool has a machine:
#   run(command="bash benchmarks/gpu_check.sh --out $OUT", carry=[".gpu"], timeout_s=540)
# Results: DIR/gpu_check.jsonl (one line per stage), DIR/tests.log, DIR/gpu_check.log; they go in BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

dry=0 prepare=0 out="" extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) dry=1 ;;
    --prepare) prepare=1 ;;
    --out) out="$2"; shift ;;
    --stages) read -r -a stages <<< "${2//,/ }"; extra+=(--stages "${stages[@]}"); shift ;;  # "dcgan,steps"
    --peer) extra+=(--peer "$2"); shift ;;
    *) echo "error: unknown argument $1 (use --dry-run, --prepare, --out DIR, --stages a,b, --peer FILE)" >&2; exit 2 ;;
  esac
  shift
done
out="${out:-gpu-check-$(date +%Y%m%d-%H%M%S)}"
python="${PYTHON:-python3}"

if [[ $prepare == 1 ]]; then  # here: fill .gpu/ for the machine (python 3.12, x86-64 manylinux), pinned as here
  python="${PYTHON:-$(pwd)/.venv/bin/python}"
  [[ -x "$python" ]] || python=python3
  mkdir -p .gpu/whl .gpu/mnist .gpu/peer
  grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
  pins=$("$python" - <<'EOF'
from importlib.metadata import version
print(" ".join(f"{p}=={version(p)}" for p in ("pydantic", "pydantic_core", "annotated-types", "typing-inspection",
                                              "typer", "rich")))
EOF
)
  "$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .gpu/whl $pins
  raw="${ZOO_HOME:-$HOME/.cache/zoo}/data/MNIST/raw"
  for f in "$raw"/*-ubyte; do gzip -9 -c "$f" > ".gpu/mnist/$(basename "$f").gz"; done
  echo "prepared .gpu/ ($(du -sh .gpu | cut -f1)); put PyTorch-GAN's implementations/dcgan/dcgan.py in .gpu/peer/"
  exit 0
fi

mkdir -p "$out"
exec > >(tee -a "$out/gpu_check.log") 2>&1

if [[ $dry == 0 ]]; then  # the GPU machine: carried wheels, the zoo installed, MNIST where the zoo looks
  if compgen -G ".gpu/whl/*.whl" > /dev/null; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
  fi
  "$python" -m pip install -q --no-index --no-deps --no-build-isolation -e . > /dev/null
  export ZOO_HOME="${ZOO_HOME:-/tmp/zoo-home}"
  mkdir -p "$ZOO_HOME/data/MNIST/raw"
  for f in .gpu/mnist/*.gz; do gunzip -c "$f" > "$ZOO_HOME/data/MNIST/raw/$(basename "$f" .gz)"; done
  export ZOO_TEST_MNIST="$ZOO_HOME/data/MNIST/raw"  # the tests' MNIST fixture copies it instead of fetching
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
else  # here: this checkout's environment and MNIST cache, the tests' fixture reading it as on the GPU machine
  python="${PYTHON:-$(pwd)/.venv/bin/python}"
  [[ -x "$python" ]] || python=python3
  raw="${ZOO_HOME:-$HOME/.cache/zoo}/data/MNIST/raw"
  [[ -d "$raw" ]] && export ZOO_TEST_MNIST="$raw"
fi
peer=()
[[ -f .gpu/peer/dcgan.py ]] && peer=(--peer .gpu/peer/dcgan.py)
export PYTHONUNBUFFERED=1
"$python" benchmarks/gpu_check.py --out "$out" ${peer[@]+"${peer[@]}"} ${extra[@]+"${extra[@]}"} \
  $([[ $dry == 1 ]] && echo --dry-run)
