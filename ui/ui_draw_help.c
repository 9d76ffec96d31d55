/* Help overlay: every binding from the key table, then notes; over the current screen. */
#include "ui_draw.h"

#include "ui_keys.h"

#include <string.h>

static const char *const notes[] = {
    "Search: typing jumps to the first match; Enter keeps it, Esc goes back.",
    "Mouse: click a row to select it; the wheel scrolls.",
    "Numbers marked ~ (estimate) are still being measured; 95% interval shown.",
    "Press any key to close this help.",
};
enum { N_NOTES = sizeof notes / sizeof notes[0], LABEL_W = 10, GAP = 3 };

static int help_width(const ui_binding *b, int n)
{
    int w = 0;
    for (int i = 0; i < n; i++)
        w = (int)strlen(b[i].help) > w ? (int)strlen(b[i].help) : w;
    return LABEL_W + w;
}

void ui_draw_help_view(const ui_state *s, const ui_layout *l)
{
    if (s->screen == UI_SCREEN_DEMO)
        ui_draw_demo_view(s, l);
    else
        ui_draw_table_view(s, l);
    if (l->too_small)
        return;
    int n;
    const ui_binding *b = ui_keys_bindings(&n);
    int entry_w = help_width(b, n), fixed = N_NOTES + 5; /* borders, blank lines, notes */
    int per_col = l->lines - fixed > 1 ? l->lines - fixed : 1;
    int ncols = (n + per_col - 1) / per_col, rows = (n + ncols - 1) / ncols;
    int w = ncols * entry_w + (ncols - 1) * GAP + 4, h = rows + fixed;
    w = w > l->cols ? l->cols : w;
    h = h > l->lines ? l->lines : h;
    int y = (l->lines - h) / 2, x = (l->cols - w) / 2;
    ui_draw_box(y, x, h, w);
    ui_draw_str(y, x + 2, w - 4, " slimbench keys ", UI_ST_TITLE);
    for (int i = 0; i < n; i++) {
        int cy = y + 2 + i % rows, cx = x + 2 + (i / rows) * (entry_w + GAP);
        ui_draw_text(cy, cx, LABEL_W, b[i].label, false, UI_ST_MARK);
        ui_draw_str(cy, cx + LABEL_W, x + w - 2 - cx - LABEL_W, b[i].help, UI_ST_NORMAL);
    }
    for (int i = 0; i < N_NOTES; i++)
        ui_draw_str(y + 3 + rows + i, x + 2, w - 4,
                    i == 2 && s->utf8
                        ? "Numbers marked \u2248 (estimate) are still being measured; "
                          "95% interval shown."
                        : notes[i],
                    UI_ST_DIM);
}
