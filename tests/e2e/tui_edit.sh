#!/usr/bin/env bash
# Live editing in the workbench under tmux (own socket, temporary HOME and XDG_STATE_HOME):
# prune the layer with the most MACs by l1 50%, see top-1 and MACs change, undo back to the
# baseline, save the configuration, reset, load it back, quit through the unsaved-work prompt,
# kill -9 mid-session and reopen restored (and --fresh not), a8 without training data, resizes.
#   BUILD=build  MODEL=sample_models/lenet5.onnx  TUI_WAIT=180 (seconds for an evaluation)
set -u
cd "$(dirname "$0")/../.."
data=/usr/share/datasets/fashion-mnist
. tests/e2e/lib_tui.sh
tui_init tui_edit 180 "$data"
baseline='top-1 [0-9]+\.[0-9]{2}%  top-5 [0-9.]+%'
# The final comparison line: "top-1 91.10% → 77.03% -14.07  top-5 ..."
final='top-1 [0-9]+\.[0-9]{2}% → [0-9]+\.[0-9]{2}% [-+][0-9]+\.[0-9]{2}'

# ---- 1. prune the fattest layer by l1 50% ----
start 100 30
wait_for "$baseline" "$wait_s" || fail "no baseline accuracy within ${wait_s}s"
base_top1=$(screen | sed -nE 's/.*top-1 ([0-9]+\.[0-9]{2})%  top-5.*/\1/p' | head -1)
base_macs=$(screen | sed -nE 's/.*  MACs ([0-9.]+[kMG]?)$/\1/p' | head -1)
[ -n "$base_top1" ] && [ -n "$base_macs" ] || fail "no baseline top-1 or MACs in the header"
keys s
expect 'sorted by MACs' "s sorts by MACs"
keys Home
layer=$(sel_row | awk '{print substr($1, 2)}')
[ -n "$layer" ] || fail "no selected layer"
keys p p
sel_row | grep -q 'l1 50%' || fail "p p sets l1 50% on $layer"
keys = ; text 0.5; keys Enter
expect "$layer: no change" "=0.5 on l1 50% changes nothing"
wait_for "$final" "$wait_s" || fail "no accuracy for the l1 edit within ${wait_s}s"
new_top1=$(screen | sed -nE 's/.*top-1 [0-9.]+% → ([0-9]+\.[0-9]{2})%.*/\1/p' | head -1)
[ "$new_top1" != "$base_top1" ] || fail "top-1 unchanged ($new_top1%) after l1 50% on $layer"
expect "MACs $base_macs → [0-9.]+[kMG]? 0\.[0-9]{2}x" "MACs drop after l1 50%"
expect 'agree [0-9]+\.[0-9]{2}%' "agreement with the base model"
expect "^ >$layer .*l1 50%" "the table shows the setting"

# ---- 2. undo (two edits: p made it magnitude, then l1): the baseline's numbers ----
keys u
sel_row | grep -q 'mag 50%' || fail "u undoes one step: back to magnitude 50%"
keys u
expect "top-1 $base_top1%  top-5" "undo returns to the baseline's top-1"
expect "MACs $base_macs\$" "undo returns to the baseline's MACs"
reject '→' "no comparison once the edit is undone"
keys C-r C-r
sel_row | grep -q 'l1 50%' || fail "^R ^R redoes both edits"

# ---- 3. save (a failed write first), reset, load back ----
keys w
expect 'save the configuration CSV to: .*\.config\.csv_' "w prompts with a path beside the model"
keys C-u; text "$tmp/no/such/dir/cfg.csv"; keys Enter
expect 'cannot write' "a failed save says why"
keys w C-u; text "$tmp/cfg.csv"; keys Enter
wait_for "saved the configuration to $tmp/cfg.csv" 5 || fail "no save message"
head -1 "$tmp/cfg.csv" | grep -q '^layer,op,prune_method,prune_ratio,quant_weight_bits' ||
    fail "$tmp/cfg.csv has no header: $(cat "$tmp/cfg.csv")"
grep -Eq "^$layer,[^,]*,l1,0\.5,32,channel,sym,none\$" "$tmp/cfg.csv" ||
    fail "$tmp/cfg.csv lacks the l1 row: $(cat "$tmp/cfg.csv")"
[ "$(wc -l <"$tmp/cfg.csv")" -eq 2 ] || fail "$tmp/cfg.csv has extra rows: $(cat "$tmp/cfg.csv")"
keys R
sel_row | grep -q 'l1 50%' && fail "R resets every layer"
keys o; keys C-u; text "$tmp/nope.csv"; keys Enter
expect 'nope\.csv: cannot open' "a missing file is reported"
printf 'layer,op,prune_method\n' >"$tmp/bad.csv"
keys o; keys C-u; text "$tmp/bad.csv"; keys Enter
expect 'bad\.csv:1:[0-9]+: ' "a bad file is reported with file:line:column"
keys o; keys C-u; text "$tmp/cfg.csv"; keys Enter
expect "loaded $tmp/cfg.csv" "o loads the file"
sel_row | grep -q 'l1 50%' || fail "the loaded setting reappears on $layer"

# ---- 4. quit with unsaved work: Esc stays, y saves first ----
keys b
sel_row | grep -q 'int8 ch' || fail "b quantises $layer to int8"
keys q
expect 'unsaved configuration: save it first\? y' "q asks"
keys Escape
expect "^ >$layer " "Esc: still running"
keys q y
expect 'save, then quit: ' "y asks where"
keys C-u; text "$tmp/final.csv"; keys Enter
wait_exit 0 || fail "y did not save and quit"
grep -Eq "^$layer,[^,]*,l1,0\.5,8,channel,sym,none\$" "$tmp/final.csv" ||
    fail "final.csv: $(cat "$tmp/final.csv" 2>&1)"

# ---- 5. kill -9 mid-session, reopen: restored ----
start 100 30
wait_for 'restored the last session' 10 || fail "the autosaved session does not come back"
sel=$(screen | grep -E "^ .$layer " | head -1)
echo "$sel" | grep -q 'l1 50%' && echo "$sel" | grep -q 'int8 ch' || fail "restored $layer settings"
session=$(ls "$tmp"/state/slimbench/*.config.csv 2>/dev/null | head -1)
[ -f "$session" ] || fail "no session file under $tmp/state/slimbench"
keys Home
other=$(sel_row | awk '{print substr($1, 2)}')
[ "$other" != "$layer" ] || { keys j; other=$(sel_row | awk '{print substr($1, 2)}'); }
keys a
sel_row | grep -q 'a8' || fail "a sets a8 on $other"
deadline=$((SECONDS + 10))
until grep -Eq "^$other,.*,a8\$" "$session"; do
    [ $SECONDS -le $deadline ] || fail "the a8 edit was not autosaved: $(cat "$session")"
    sleep 0.2
done
kill9
start 100 30
wait_for 'restored the last session' 10 || fail "not restored after kill -9"
screen | grep -E "^ .$other " | grep -q 'a8' || fail "the last edit before kill -9 is back"
keys u
screen | grep -E '^ ' | grep -Eq 'l1 50%|int8 ch|a8 *$' && fail "u undoes the restore as one step"
keys C-r
screen | grep -E "^ .$other " | grep -q 'a8' || fail "^R restores it again"

# ---- 6. resizes redraw ----
tm resize-window -t tui -x 80 -y 24
sleep 0.6
[ "$(screen | wc -l)" -eq 24 ] || fail "not 24 lines after resizing to 80x24"
expect '^slimbench sample_models/|^slimbench ' "the title at 80x24"
expect 'total: [0-9]+ layers|total' "the totals row at 80x24"
screen | LC_ALL=C sed 's/[\x80-\xbf]//g' | awk 'length($0) > 80 { bad = 1 } END { exit bad }' ||
    fail "lines wider than 80"
tm resize-window -t tui -x 200 -y 60
sleep 0.6
[ "$(screen | wc -l)" -eq 60 ] || fail "not 60 lines after resizing to 200x60"
wait_for "[0-9.]+[kM]?/[0-9.]+[kM]? " 5 || fail "no now/base cells at 200 columns"
keys Enter
expect "── $layer: |── $other: " "the detail pane beside the table at 200x60"
keys q n
wait_exit 0 || fail "q n did not quit"

# ---- 7. --fresh ignores the session ----
start 100 30 --fresh
wait_for '\-\-fresh: the autosaved session was not restored' 10 || fail "--fresh does not say so"
screen | grep -E '^ ' | grep -Eq 'l1 50%|int8 ch' && fail "--fresh still restored settings"
keys q
wait_exit 0 || fail "q without changes quits at once"

# ---- 8. a8 without a training split: the error, the previous results kept ----
mkdir -p "$tmp/testonly"
ln -s "$data"/t10k-* "$tmp/testonly/"
start 100 30 --fresh --data "$tmp/testonly"
wait_for "$baseline" "$wait_s" || fail "no baseline on the test-only data"
keys Home a
wait_for 'training split' 30 || fail "no error for a8 without training data"
expect 'not applied' "the header says the settings were not applied"
keys q n
wait_exit 0 || fail "quit after the error"
# ---- 9. the session cannot be written: said once, the work goes on ----
printf 'not a directory' >"$tmp/statefile"
state=$tmp/statefile
start 100 30
wait_for "$baseline" "$wait_s" || fail "no baseline with an unwritable state directory"
keys Home b
wait_for 'autosave failed: .*statefile' 10 || fail "no message when the session cannot be written"
keys b
reject 'autosave failed' "said once"
sel_row | grep -q 'int6 ch' || fail "the edits go on"
keys q n
wait_exit 0 || fail "quit with an unwritable state directory"
echo "tui_edit: ok"
