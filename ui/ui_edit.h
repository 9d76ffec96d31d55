/* Editing the Config from the workbench: each operation builds the next Config from the current
 * one for the target layers (ui_edit_targets), refuses what the engine would refuse, and pushes
 * one undo step (ui_state_edit) when something changed. The status-line message says what
 * happened. Pure state changes: no curses, no threads, no files. */
#ifndef UI_EDIT_H
#define UI_EDIT_H

#include "ui_state.h"

#include <stddef.h>

#define UI_RATIO_STEP 0.05
#define UI_RATIO_BIG_STEP 0.1
#define UI_RATIO_MAX_STEP 0.95 /* + stops here; a typed ratio may go up to UI_RATIO_MAX */
#define UI_RATIO_MAX 0.99
#define UI_RATIO_DEFAULT 0.5 /* a layer that starts pruning with no ratio yet */

/* p: none -> magnitude -> l1 -> none, from the selected layer's method. l1 skips the layers whose
 * channels cannot be removed (saying why); when none can take it, the cycle goes on to none. */
bool ui_edit_cycle_prune(ui_state *s);
/* Sets a method on the targets; l1 is refused (with the reason) on unprunable layers. */
bool ui_edit_set_prune(ui_state *s, sb_prune_method m);
/* + / -: an unpruned layer starts magnitude pruning; global layers step the global ratio;
 * a ratio stepped down to 0 stops pruning. */
bool ui_edit_step_ratio(ui_state *s, double delta);
bool ui_edit_set_ratio(ui_state *s, double ratio); /* = */
bool ui_edit_cycle_bits(ui_state *s);              /* b: 32 -> 8 -> 6 -> 4 -> 2 -> 32 */
bool ui_edit_toggle_gran(ui_state *s);             /* g: per channel / per tensor */
bool ui_edit_toggle_act8(ui_state *s);             /* a */
/* G: the marked layers (all layers when none are marked) prune by one magnitude threshold to
 * this sparsity; 0 stops global pruning on them. */
bool ui_edit_global(ui_state *s, double ratio);
bool ui_edit_reset(ui_state *s);     /* r: the targets back to the default */
bool ui_edit_reset_all(ui_state *s); /* R */
/* A Config read from a file becomes the current one (undoable) and counts as saved. */
bool ui_edit_load(ui_state *s, const sb_config *c, const char *path);

/* Enter in the prompt: a ratio becomes an edit, a path a request for the main loop. */
void ui_prompt_accept(ui_state *s);

/* Cell text: "l1 50%", "mag 30%", "glob 70%", "(l1 50%)" (pruned through its group), "-". */
char *ui_prune_text(const ui_state *s, int row, char *buf, size_t n);
/* "int8 ch", "int4 t a8", "a8", "-". */
char *ui_quant_text(const sb_layer_config *l, char *buf, size_t n);
/* "50%", "33.3%". */
char *ui_ratio_text(double ratio, char *buf, size_t n);

#endif
