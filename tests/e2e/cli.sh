#!/usr/bin/env bash
# The command line as a user scripts it: exit codes, messages, CSV columns, and the same numbers
# through every path (eval, apply, a saved configuration, an exported model).
set -u
cd "$(dirname "$0")/../.."
SB=${BUILD:-build}/slimbench
M=sample_models/lenet5.onnx
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 failed=0

check() { # check NAME CONDITION-COMMAND...
    local name=$1; shift
    if "$@"; then pass=$((pass + 1)); else failed=$((failed + 1)); echo "FAIL: $name"; fi
}
run() { # run EXPECTED_EXIT CMD... → stdout in $T/out, stderr in $T/err
    local want=$1; shift
    "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    [ "$rc" -eq "$want" ] || { echo "  exit $rc, expected $want: $*"; cat "$T/err"; return 1; }
}
has() { grep -qF -- "$1" "$T/$2" || { echo "  '$1' not in $2:"; cat "$T/$2"; return 1; }; }
col() { # col FILE NAME → value of column NAME in row 2 of a CSV
    awk -F, -v n="$2" 'NR==1{for(i=1;i<=NF;i++) if($i==n) c=i} NR==2{print $c}' "$1"
}

check "help" run 0 "$SB" --help
check "help text" has "slimbench inspect" out
check "unknown command" run 1 "$SB" frobnicate
check "unknown command message" has "unknown command 'frobnicate'" err
check "missing model" run 1 "$SB" inspect /nonexistent/m.onnx
check "missing model message" has "/nonexistent/m.onnx: cannot open: No such file or directory" err
check "not a model" run 1 "$SB" inspect README.md
check "not a model message" has "not a valid ONNX model" err
check "bad option" run 1 "$SB" eval "$M" --limit lots
check "bad option message" has "--limit wants a positive number, not 'lots'" err
check "missing data" run 1 "$SB" eval "$M" --data /nonexistent
check "missing data names the directory" has "/nonexistent" err

check "inspect csv" run 0 "$SB" inspect "$M" --csv
check "inspect columns" has "layer,op,node,weight,out_shape,params,macs,sparsity" out
check "inspect rows" test "$(grep -c '^conv\|^fc' "$T/out")" -eq 5

# The same accuracy through eval, apply, a saved configuration and an exported model.
check "eval csv" run 0 "$SB" eval "$M" --csv --limit 2000
check "eval columns" has "images,correct,top1,top5" out
check "apply" run 0 "$SB" apply "$M" --prune conv2=0.5:l1 --quant all=8 --limit 2000 --seconds 0.2 \
    --save-config "$T/c.csv" --report "$T/r.csv" --export "$T/c.onnx" --csv
apply_top1=$(col "$T/out" top1)
check "eval with the saved config" run 0 "$SB" eval "$M" --config "$T/c.csv" --limit 2000 --csv
check "same top-1 from apply and eval --config" test "$(col "$T/out" top1)" = "$apply_top1"
check "agreement column" test -n "$(col "$T/out" agreement)"
check "eval with flags" run 0 "$SB" eval "$M" --prune conv2=0.5:l1 --quant all=8 --limit 2000 --csv
check "same top-1 from flags" test "$(col "$T/out" top1)" = "$apply_top1"
check "report has a summary row" grep -q '^summary,' "$T/r.csv"
check "config csv header" grep -q '^layer,op,prune_method,prune_ratio' "$T/c.csv"

check "sweep csv" run 0 "$SB" sweep "$M" --range 0:0.5:0.5 --limit 500 --csv
check "sweep columns" has "parameter,sparsity,top1,top5,loss" out
check "sweep rows" test "$(grep -c ',0.5,' "$T/out")" -eq 5
check "bad range" run 1 "$SB" sweep "$M" --range 0:2:0.1
check "bench csv" run 0 "$SB" bench "$M" --seconds 0.2 --limit 512 --csv
check "bench columns" has "latency_ms" out
check "bench kernels" has ",f32 x5" out
check "bench int8" run 0 "$SB" bench "$M" --quant all=8:a8 --seconds 0.2 --limit 512
check "bench int8 kernels" grep -qE '^kernels: int8-(vnni|avx2|ref) x5$' "$T/out"
check "bench weight-only" run 0 "$SB" bench "$M" --quant all=4 --seconds 0.2 --limit 512
check "bench weight-only kernels" has "kernels: f32-dq x5" out

# Nothing lost on a failed write: a message, exit 1, the previous file whole, no temporary left.
# (root ignores permissions: a path under a regular file gives ENOTDIR, and a file size limit,
# RLIMIT_FSIZE, makes the export fail part way like a full disk.)
printf 'a regular file' >"$T/afile"
check "export under a file" run 1 "$SB" apply "$M" --prune conv2=0.5:l1 --limit 200 --seconds 0.1 \
    --export "$T/afile/c.onnx"
check "export under a file message" has "$T/afile/c.onnx: cannot write: Not a directory" err
check "save-config under a file" run 1 "$SB" apply "$M" --quant all=8 --limit 200 --seconds 0.1 \
    --save-config "$T/afile/c.csv"
check "save-config under a file message" has "$T/afile/c.csv: cannot write: Not a directory" err
cp "$T/c.onnx" "$T/c.before.onnx"
check "export past a file size limit" run 1 prlimit --fsize=20000 "$SB" apply "$M" --quant all=4 \
    --limit 200 --seconds 0.1 --export "$T/c.onnx"
check "file size limit message" has "$T/c.onnx: cannot write: File too large" err
check "the previous export is whole" cmp -s "$T/c.onnx" "$T/c.before.onnx"
check "no temporary left" test -z "$(ls "$T" | grep '\.tmp\.')"
# Gradual channel pruning while fine-tuning: the written model has the target channel count.
check "finetune agp l1" run 0 "$SB" finetune "$M" --prune conv2=0.5:l1 --schedule agp:4:0.2 \
    --steps 20 --train-limit 1280 --limit 500 --threads 1 --out "$T/ft.onnx" --csv
check "finetune columns" has "top1_before,top1_after,seconds" out
check "finetune epoch times" test -n "$(col "$T/out" epoch_seconds)"
check "finetune accuracy" test -n "$(col "$T/out" top1_after)"
check "finetuned model" run 0 "$SB" inspect "$T/ft.onnx" --csv
check "conv2 thinned to 8 channels" grep -q '^conv2,Conv,[^,]*,[^,]*,1x8x' "$T/out"
check "bench layers" run 0 "$SB" bench "$M" --layers --seconds 0.1 --prune all=0.9 --csv
check "bench layers columns" has "layer,op,params,density,kernel,median_ms,min_ms" out
check "90% pruned fc1 runs sparse" grep -q '^fc1,Gemm,.*,sparse-csr,' "$T/out"
check "bench layers unpruned" run 0 "$SB" bench "$M" --layers --seconds 0.1 --csv
check "unpruned runs dense" test "$(grep -c ',sparse-csr,' "$T/out")" -eq 0

echo "cli: $pass passed, $failed failed"
[ "$failed" -eq 0 ]
