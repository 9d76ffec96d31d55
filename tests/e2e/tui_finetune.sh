#!/usr/bin/env bash
# Fine-tuning in the workbench under tmux (own socket, temporary HOME and XDG_STATE_HOME), at
# 80x24: prune conv2 of lenet5 by magnitude 80%, F opens the dialog, a short fine-tune (200 steps
# on the first 1280 training images) shows its progress bar, edits wait meanwhile, top-1 comes
# back higher; u returns to the pruned model's top-1 exactly, ^R to the fine-tuned one without
# retraining; e exports the fine-tuned weights (checked with `slimbench eval`); a second,
# long fine-tune is cancelled with F and changes nothing.
#   BUILD=build  MODEL=sample_models/lenet5.onnx  TUI_WAIT=180 (seconds for an evaluation)
set -u
cd "$(dirname "$0")/../.."
data=/usr/share/datasets/fashion-mnist
. tests/e2e/lib_tui.sh
tui_init tui_finetune 180 "$data/train-images-idx3-ubyte.gz"
tui_poll=0.1
start 80 24 --fresh --threads 1

baseline='top-1 [0-9]+\.[0-9]{2}%  top-5 [0-9.]+%'
final='top-1 [0-9]+\.[0-9]{2}% → [0-9]+\.[0-9]{2}% [-+][0-9]+\.[0-9]{2}'
now_top1() { screen | sed -nE 's/.*top-1 [0-9.]+% → ([0-9]+\.[0-9]{2})%.*/\1/p' | head -1; }
# settled TOP1: the final comparison shows this top-1 (no estimate, ≈, on screen)
settled() { wait_for "top-1 [0-9.]+% → $1% [-+]" "$wait_s"; }

# ---- 1. prune conv2 by magnitude 80% ----
wait_for "$baseline" "$wait_s" || fail "no baseline accuracy within ${wait_s}s"
keys F
expect 'nothing to fine-tune yet' "F on the unchanged model"
keys j p '>' '>' '>'
screen | grep -E '^ >conv2 ' | grep -q 'mag 80%' || fail "conv2 at magnitude 80%"
wait_for "$final" "$wait_s" || fail "no accuracy for the pruned model"
pruned=$(now_top1)

# ---- 2. the dialog: steps 200, 1280 training images ----
keys F
expect 'fine-tune the current model' "F opens the dialog"
expect 'epochs +1' "one epoch by default"
expect 'distillation +on' "distillation on by default"
keys Down; text 200
keys Down Down Down Down Down Down; text 1280
expect 'training images +1280_' "the typed field"
keys Enter
wait_for 'fine-tuning [█░]+ [0-9]+/200  loss [0-9.]+  train [0-9.]+%  [0-9]+s  F cancels' "$wait_s" ||
    fail "no progress bar"
keys p
expect 'edits wait until it ends' "an edit while training waits"
wait_for 'fine-tuned: 200 steps' "$wait_s" || fail "the fine-tune did not finish"
expect '\(fine-tuned\)' "the title says the model is fine-tuned"
wait_for "$final" "$wait_s" || fail "no accuracy for the fine-tuned model"
tuned=$(now_top1)
awk -v a="$tuned" -v b="$pruned" 'BEGIN { exit !(a > b) }' ||
    fail "fine-tuning did not raise top-1 ($pruned% -> $tuned%)"
wait_for 'latency [0-9.]+ → [0-9.]+ ms' "$wait_s" || fail "no latency for the fine-tuned model"

# ---- 3. undo, redo ----
keys u
expect 'the weights before fine-tuning' "u says what it undid"
settled "$pruned" || fail "u: top-1 is not back to the pruned model's $pruned%"
screen | grep -q '(fine-tuned)' && fail "the title still says fine-tuned after u"
keys C-r
expect 'fine-tuned weights again' "^R re-applies the weights"
settled "$tuned" || fail "^R: top-1 is not the fine-tuned $tuned% again"

# ---- 4. export the fine-tuned weights ----
keys e C-u; text "$tmp/tuned.onnx"; keys Enter
wait_for 'exported .*\(the fine-tuned weights\)' "$wait_s" || fail "no export message"
got=$("$bin" eval "$tmp/tuned.onnx" --threads 1 2>&1 | sed -nE 's/^top-1 ([0-9.]+)%.*/\1/p')
[ "$got" = "$tuned" ] || fail "the exported model scores $got%, the workbench showed $tuned%"

# ---- 5. a long fine-tune, cancelled ----
keys F Down C-u; text 100000; keys Enter
wait_for 'fine-tuning [█░]+ [0-9]+/100000' "$wait_s" || fail "no progress for the long fine-tune"
keys F
expect 'fine-tuning cancelled: the model is as it was' "F cancels"
sleep 1
expect "top-1 [0-9.]+% → $tuned% " "cancelling keeps the fine-tuned model's top-1"
expect '\(fine-tuned\)' "still the fine-tuned model"
keys u
settled "$pruned" || fail "one u after the cancel goes back to the pruned model"
keys q n
wait_exit 0 || fail "q n did not quit (exit status: $(cat "$tmp/rc" 2>/dev/null))"
echo "tui_finetune: ok (pruned $pruned%, fine-tuned $tuned%)"
