#!/usr/bin/env bash
# One prepared GPU benchmark run for issue 7 (Table 1 measured): under 8 minutes on one H200.
#
#   bash benchmarks/gpu.sh               # on the GPU machine (needs .whl/ from fetch_gpu_wheels.sh)
#   bash benchmarks/gpu.sh --cpu-smoke   # the same steps with tiny models on CPU (< 2 minutes)
#
# Writes to $OUT (default ./bench_out): one JSON per step (rewritten after every model, so a step
# cut off by its time limit keeps what it finished), <step>.log, summary.md (all tables, rebuilt
# after every step), env.txt and progress.log. Steps run most-important first (the bf16 eager
# Table 1 run, then where V4D's and F4D's forward time goes); each has a time limit, and a step
# that no longer fits the overall budget ($BENCH_BUDGET_S, default 450 s) is skipped and listed
# in skipped.txt. The compiled runs come after the eager bf16 tables and ops; compile time counts
# against their limits (a model whose compilation does not finish in time is simply missing from
# that step's JSON).
set -uo pipefail
cd "$(dirname "$0")/.."

MODE=gpu
case "${1:-}" in
    --cpu-smoke) MODE=smoke ;;
    "") ;;
    *) echo "usage: bash benchmarks/gpu.sh [--cpu-smoke]" >&2; exit 2 ;;
esac

OUT=${OUT:-./bench_out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
START=$SECONDS
FAILED=()
DONE_JSON=()
: > "$OUT/progress.log"
: > "$OUT/skipped.txt"

log() {
    local line
    line="[$(date +%H:%M:%S) +$((SECONDS - START))s] $*"
    echo "$line"
    echo "$line" >> "$OUT/progress.log"
}

if [[ $MODE == smoke ]]; then
    if [[ -x .venv/bin/python ]]; then PY=${PYTHON:-.venv/bin/python}; else PY=${PYTHON:-python3}; fi
    BUDGET=${BENCH_BUDGET_S:-115}
    DEVICE=cpu
    R50="v4d_tiny,f4d_tiny,i3d_tiny,tsn_tiny"   # stands in for v4d_r50,f4d_r50,i3d_r50,tsn_r50
    PAIR="f4d_tiny"                             # stands in for v4d_r50,f4d_r50 (one, for time)
    R50_FP32=$PAIR                              # the fp32 table: all four models on the GPU
    SHAPE=(--units 2 --batch 1 --size 16 --repeats 1 --warmup 0 --num-classes 10)
    T8=(--frames 2)
    T16=(--frames 4)
    OPS=(--widths 4,8 --units 2 --frames 2 --size 4 --batch 1 --repeats 1 --warmup 0)
    COMPILE=(--compile --compile-backend eager)  # dynamo tracing only: fast, exercises the path
    BREAKDOWN=()                                 # SHAPE's single repeat
else
    PY=${PYTHON:-python3}
    BUDGET=${BENCH_BUDGET_S:-450}
    DEVICE=cuda
    R50="v4d_r50,f4d_r50,i3d_r50,tsn_r50"
    PAIR="v4d_r50,f4d_r50"
    R50_FP32=$R50
    SHAPE=(--units 4 --batch 16 --size 224 --repeats 6 --warmup 2)
    T8=(--frames 8)
    T16=(--frames 16)
    OPS=(--widths 64,128,256,512,1024 --units 4 --frames 8 --size 14 --batch 16 --repeats 10)
    COMPILE=(--compile)
    BREAKDOWN=(--repeats 5 --warmup 2)           # hooked forwards sync per module: fewer repeats
fi
ONLY=${BENCH_STEPS:-}  # comma-separated step names to run (default: all, in order)

# ----------------------------------------------------------------------------- installation
install_missing_wheel() {  # module wheel-prefix
    local module=$1 prefix=$2 wheel
    [[ " $MISSING " == *" $module "* ]] || return 0
    if [[ $MODE == smoke ]]; then log "smoke: $module missing; would install .whl/$prefix-*.whl"; return 0; fi
    wheel=$(ls .whl/"$prefix"-*.whl 2>/dev/null | head -n 1)
    if [[ -z $wheel ]]; then
        log "WARNING: python module $module missing and no .whl/$prefix-*.whl (run benchmarks/fetch_gpu_wheels.sh)"
        return 0
    fi
    "$PY" -m pip install -q --no-deps --no-index "$wheel" \
        || "$PY" -m pip install -q --no-deps --no-index --break-system-packages "$wheel" \
        || { log "pip could not install $wheel; unpacking it onto PYTHONPATH"; unpack_wheel "$wheel"; }
    log "installed $wheel"
}

unpack_wheel() {  # last resort: a wheel is a zip of site-packages content
    mkdir -p .whl/site
    "$PY" -m zipfile -e "$1" .whl/site
    export PYTHONPATH="$PWD/.whl/site${PYTHONPATH:+:$PYTHONPATH}"
}

install() {
    log "install (mode $MODE, $("$PY" --version 2>&1))"
    MISSING=$("$PY" - <<'PY'
import importlib.util
print(" ".join(m for m in ("yaml", "omegaconf", "av") if importlib.util.find_spec(m) is None))
PY
)
    install_missing_wheel yaml pyyaml
    install_missing_wheel omegaconf omegaconf
    if [[ $MODE == gpu ]] && ! "$PY" -c "import omegaconf" 2>/dev/null; then
        MISSING="antlr4"  # omegaconf 2.3 needs the antlr4 runtime (2.4 does not)
        install_missing_wheel antlr4 antlr4_python3_runtime
    fi
    install_missing_wheel av av
    if [[ $MODE == gpu ]]; then
        "$PY" -m pip install -q --no-deps --no-build-isolation -e . \
            || "$PY" -m pip install -q --no-deps --no-build-isolation --break-system-packages -e . \
            || log "editable install of f4d failed; running it from src/ through PYTHONPATH"
    fi
    # Always importable from this checkout, installed or not.
    export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
    "$PY" -c "import f4d.bench.model, f4d.bench.ops, f4d.bench.breakdown" || { log "FATAL: f4d does not import"; exit 1; }
}

environment() {
    {
        echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  mode: $MODE  host: $(hostname)"
        command -v nvidia-smi >/dev/null && nvidia-smi
        "$PY" - <<'PY'
import platform, torch
print("python", platform.python_version(), "| torch", torch.__version__, "| cuda", torch.version.cuda,
      "| cudnn", torch.backends.cudnn.version() if torch.cuda.is_available() else None)
if torch.cuda.is_available():
    print("gpu:", torch.cuda.get_device_name(0), "| cudnn.allow_tf32", torch.backends.cudnn.allow_tf32,
          "| matmul tf32", torch.backends.cuda.matmul.allow_tf32)
PY
        [[ $MODE == gpu ]] && { "$PY" -m pip list 2>/dev/null | grep -i -E "^(torch|numpy|av|omegaconf|onnx|triton) "; }
    } > "$OUT/env.txt" 2>&1
    log "environment written to $OUT/env.txt"
}

# ----------------------------------------------------------------------------- steps
summarize() {
    (( ${#DONE_JSON[@]} )) || return 0
    "$PY" -m f4d.cli.bench report "${DONE_JSON[@]}" --out "$OUT/summary.md" > /dev/null 2>&1 \
        || log "WARNING: could not rebuild summary.md"
}

# step NAME LIMIT_S MIN_S ARGS...: `python -m f4d.cli.bench ARGS --json $OUT/NAME.json`, limited
# to LIMIT_S and skipped when less than MIN_S of the budget is left (smoke: 30 s and 5 s).
step() {
    local name=$1 limit=$2 min=$3 left rc
    shift 3
    if [[ -n $ONLY && ",$ONLY," != *",$name,"* ]]; then return 0; fi
    [[ $MODE == smoke ]] && { limit=30; min=5; }
    left=$(( BUDGET - (SECONDS - START) ))
    if (( left < min )); then
        log "SKIP $name: ${left}s of the budget left, needs ${min}s"
        echo "$name" >> "$OUT/skipped.txt"
        return 0
    fi
    (( limit > left )) && limit=$left
    log "START $name (limit ${limit}s): bench $*"
    rm -f "$OUT/$name.json"
    timeout --signal=INT --kill-after=20 "$limit" \
        "$PY" -m f4d.cli.bench "$@" --device "$DEVICE" --json "$OUT/$name.json" > "$OUT/$name.log" 2>&1
    rc=$?
    [[ -s $OUT/$name.json ]] && DONE_JSON+=("$OUT/$name.json")
    case $rc in
        0) log "DONE $name" ;;
        124|137) log "TIME LIMIT $name after ${limit}s (finished models kept in $name.json)"; FAILED+=("$name(time)") ;;
        *) log "FAIL $name (exit $rc): $(tail -n 2 "$OUT/$name.log" | tr '\n' ' ' | cut -c1-300)"; FAILED+=("$name") ;;
    esac
    summarize
}

install
environment
log "budget ${BUDGET}s; output in $OUT"
# Most important first. GPU limits/minimums in seconds; $PAIR = v4d_r50,f4d_r50 (the paper's ratio).
#    name                      limit min  arguments
step bf16_eager_8f             150  60  model --models "$R50" "${T8[@]}" "${SHAPE[@]}" --dtype bf16 --train
step breakdown_bf16_8f          60  25  breakdown --models "$PAIR" "${T8[@]}" "${SHAPE[@]}" "${BREAKDOWN[@]}" --dtype bf16
step bf16_eager_16f             90  40  model --models "$PAIR" "${T16[@]}" "${SHAPE[@]}" --dtype bf16 --train
step ops_forward                45  15  ops "${OPS[@]}"
step ops_backward               45  15  ops "${OPS[@]}" --backward
step bf16_compiled_8f          180  90  model --models "$PAIR" "${T8[@]}" "${SHAPE[@]}" --dtype bf16 "${COMPILE[@]}"
step fp32_eager_8f             150  60  model --models "$R50_FP32" "${T8[@]}" "${SHAPE[@]}" --dtype fp32 --train
step bf16_ncthw_8f             90  40  model --models "$PAIR" "${T8[@]}" "${SHAPE[@]}" --dtype bf16 --train --contiguous
step fp32_eager_16f             90  40  model --models "$PAIR" "${T16[@]}" "${SHAPE[@]}" --dtype fp32 --train
step bf16_compiled_train_8f    240  90  model --models "$PAIR" "${T8[@]}" "${SHAPE[@]}" --dtype bf16 --train "${COMPILE[@]}"
step fp32_compiled_8f          180  90  model --models "$PAIR" "${T8[@]}" "${SHAPE[@]}" --dtype fp32 "${COMPILE[@]}"

summarize
log "finished in $((SECONDS - START))s; tables in $OUT/summary.md; skipped: $(paste -sd' ' "$OUT/skipped.txt")"
if (( ${#FAILED[@]} )); then
    log "steps not completed: ${FAILED[*]}"
    exit 1
fi
exit 0
