/* Key bindings: one table maps keys to actions on the UI state; the help overlay is generated
 * from the same table. Actions only change state and return UI_* flags, so they are tested
 * without a terminal (KEY_* codes come from curses.h, nothing here draws). */
#ifndef UI_KEYS_H
#define UI_KEYS_H

#include "ui_layout.h"
#include "ui_state.h"

#define UI_CTRL(c) ((c)&0x1f)
enum { UI_KEY_ESC = 27, UI_MAX_KEYS = 4 };

/* Where a binding applies. */
enum { UI_ON_TABLE = 1u << 0, UI_ON_DEMO = 1u << 1, UI_ON_ALL = UI_ON_TABLE | UI_ON_DEMO };

/* An action gets the key that invoked it (one binding may hold a pair: j/k, +/-). */
typedef unsigned (*ui_action)(ui_state *s, int key);

typedef struct ui_binding {
    int keys[UI_MAX_KEYS]; /* 0-terminated unless full */
    const char *label;     /* the keys as the help shows them */
    const char *help;
    unsigned where;
    ui_action act;
} ui_binding;

const ui_binding *ui_keys_bindings(int *n);

/* Per-view key handlers (the .key of each view's function table). */
unsigned ui_keys_table(ui_state *s, int key);
unsigned ui_keys_demo(ui_state *s, int key);
unsigned ui_keys_help(ui_state *s, int key);

typedef enum { UI_MOUSE_SELECT, UI_MOUSE_WHEEL_UP, UI_MOUSE_WHEEL_DOWN } ui_mouse;
/* A mouse event at screen cell (y, x), already decoded from the terminal's report. */
unsigned ui_keys_mouse(ui_state *s, const ui_layout *l, ui_mouse what, int y, int x);

#endif
