/* The fine-tuning dialog (F): fields edited from the keyboard, checked into sb_train_options,
 * and the request that starts the job; F again while it runs cancels it. Pure state: no curses
 * (key codes only), no threads. */
#ifndef UI_FINETUNE_H
#define UI_FINETUNE_H

#include "ui_state.h"

#include <stddef.h>

/* Opens the dialog (keeping the values of the last one); false with a message when there is
 * nothing to fine-tune. */
bool ui_ft_open(ui_state *s);
/* A key while the dialog is open: Up/Down/Tab move, printable keys edit, Backspace erases,
 * Space toggles distillation, Enter checks and starts, Esc closes. Returns UI_* flags. */
unsigned ui_ft_key(ui_state *s, int key);
/* The dialog's values as training options (defaults for the rest); returns the field that is
 * wrong (with why), or -1. *agp: gradual pruning asked for. */
int ui_ft_parse(const ui_ft_dialog *d, sb_train_options *o, bool *agp, char *why, size_t n);
/* F while a fine-tune is queued or running: asks the main loop to cancel it. */
void ui_ft_cancel(ui_state *s);

/* The status line while a fine-tune is queued or runs: a bar, step/steps, loss, running top-1
 * on the training images, elapsed seconds. */
char *ui_ft_progress_text(const ui_state *s, int width, char *buf, size_t n);

const char *ui_ft_label(ui_ft_field f);
/* The text a field shows: its text, or on/off. */
const char *ui_ft_value(const ui_ft_dialog *d, ui_ft_field f);
const char *ui_ft_hint(ui_ft_field f);

#endif
