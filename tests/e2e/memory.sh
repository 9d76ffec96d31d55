#!/usr/bin/env bash
# Memory bounds (peak RSS from getrusage via /usr/bin/time -f %M; not timed):
#  1. a ~100 MB model: sample_models/fixtures/resnet50_const.onnx.gz (torchvision ResNet-50,
#     constant weights) decompressed to a temporary directory, evaluated on 4 generated 224x224x3
#     images, then pruned (l1 30%) + int8 and exported; eval must peak under 2.5x the model file,
#     apply under 3.5x (docs/architecture.md "Memory").
#  2. an evaluation set streamed from disk: the Fashion-MNIST test split as float32 .npy, tiled
#     10 times (100000 images, ~314 MB), evaluated by lenet5 with peak RSS under 100 MB, and
#     exactly 10x the correct predictions of the real test split (which the oracle suites tie
#     to PyTorch).
# Skipped for sanitizer builds, whose shadow memory makes RSS meaningless.
set -u
cd "$(dirname "$0")/../.."
bin=${BUILD:-build}/slimbench
data=${SLIMBENCH_DATA:-/usr/share/datasets/fashion-mnist}
for need in /usr/bin/time python3 "$bin" "$data"; do
    command -v "$need" >/dev/null 2>&1 || [ -e "$need" ] ||
        { echo "memory: FAIL: $need is missing (make deps-test all)"; exit 1; }
done
if grep -qa -e __asan_init -e __tsan_init "$bin"; then
    echo "memory: skipped (sanitizer build)"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "memory: FAIL: $*"; exit 1; }
# peak_kb CMD...: runs CMD (stdout to $tmp/out), prints its peak RSS in KiB; fails if CMD fails.
peak_kb() {
    /usr/bin/time -f %M -o "$tmp/rss" "$@" >"$tmp/out" 2>"$tmp/err" ||
        fail "$* failed: $(cat "$tmp/err")"
    cat "$tmp/rss"
}
check_bound() { # check_bound WHAT PEAK_KB BOUND_BYTES
    local peak=$(($2 * 1024))
    echo "  $1: peak RSS $(($peak >> 20)) MiB (bound $(($3 >> 20)) MiB)"
    [ "$peak" -le "$3" ] || fail "$1 peaks at $peak bytes, over $3"
}

# ---- 1. ResNet-50, ~100 MB ----
gunzip -c sample_models/fixtures/resnet50_const.onnx.gz >"$tmp/r50.onnx"
size=$(stat -c %s "$tmp/r50.onnx")
python3 tests/e2e/make_npy.py random "$tmp/img" 4 3 224 224
kb=$(peak_kb "$bin" eval "$tmp/r50.onnx" --data "$tmp/img" --threads 2 --csv)
grep -q '^4,' "$tmp/out" || fail "resnet50 eval: $(cat "$tmp/out")"
check_bound "resnet50 ($((size >> 20)) MiB) eval" "$kb" $((size * 5 / 2))
kb=$(peak_kb "$bin" apply "$tmp/r50.onnx" --data "$tmp/img" --threads 2 --seconds 0.1 \
    --prune all=0.3:l1 --quant all=8 --export "$tmp/r50c.onnx")
[ -s "$tmp/r50c.onnx" ] || fail "no exported model"
check_bound "resnet50 apply (l1 30% + int8, export)" "$kb" $((size * 7 / 2))

# ---- 2. an evaluation set bigger than the bound, streamed ----
python3 tests/e2e/make_npy.py tile "$data" "$tmp/big" 10
big=$(stat -c %s "$tmp/big/test_images.npy")
kb=$(peak_kb "$bin" eval sample_models/lenet5.onnx --data "$data" --csv)
want=$(awk -F, 'NR == 2 { print $2 * 10 }' "$tmp/out")
kb=$(peak_kb "$bin" eval sample_models/lenet5.onnx --data "$tmp/big" --csv)
got=$(awk -F, 'NR == 2 { print $1 "," $2 }' "$tmp/out")
[ "$got" = "100000,$want" ] || fail "100000 images, $want correct expected; got $got"
check_bound "lenet5 on a $((big >> 20)) MiB streamed .npy" "$kb" $((100 << 20))
echo "memory: ok"
