/* Views as function tables: the main loop draws and dispatches keys through the current one. */
#ifndef UI_VIEW_H
#define UI_VIEW_H

#include "ui_layout.h"
#include "ui_state.h"

typedef struct ui_view {
    const char *name;
    void (*draw)(const ui_state *s, const ui_layout *l); /* curses; UI thread only */
    unsigned (*key)(ui_state *s, int key);               /* returns UI_* flags */
    void (*enter)(ui_state *s);                          /* optional */
    void (*leave)(ui_state *s);                          /* optional */
} ui_view;

extern const ui_view ui_view_table, ui_view_demo, ui_view_help;

/* The help overlay when shown, else the screen's view. */
const ui_view *ui_view_current(const ui_state *s);
/* Dispatches a key to the current view, calling leave/enter when it changes the view. */
unsigned ui_view_key(ui_state *s, int key);

#endif
