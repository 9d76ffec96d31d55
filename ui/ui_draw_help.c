/* Help overlay: every binding from the key table, then notes; over the current screen. */
#include "ui_draw.h"

#include "ui_keys.h"

#include <string.h>

static const char *const notes[] = {
    "Edits apply to the visual range, else the marked layers, else the selected.",
    "Each edit re-evaluates in the background; ~ marks estimates (95% interval).",
    "The configuration is autosaved and restored next time (--fresh ignores it).",
    "Search: typing jumps to the first match; Enter keeps it, Esc goes back.",
    "F fine-tunes the current model (u undoes); its weights are not autosaved.",
    "Press any key to close this help.",
};
enum { N_NOTES = sizeof notes / sizeof notes[0], LABEL_W = 10, GAP = 2 };

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
    int entry_w = help_width(b, n);
    int ncols = (l->cols - 4 + GAP) / (entry_w + GAP); /* as many columns as fit */
    ncols = ncols < 1 ? 1 : ncols;
    int rows = (n + ncols - 1) / ncols;
    while (ncols > 1 && (n + ncols - 2) / (ncols - 1) + 2 <= l->lines - 2 - N_NOTES) {
        ncols--; /* fewer, taller columns while the notes still fit */
        rows = (n + ncols - 1) / ncols;
    }
    int room = l->lines - 2 - rows; /* under the keys: a blank line and the notes */
    int shown = room - 1 >= N_NOTES ? N_NOTES : room - 1 > 0 ? room - 1 : 0; /* the last ones */
    int w = ncols * entry_w + (ncols - 1) * GAP + 4, h = rows + 2 + (shown ? shown + 1 : 0);
    for (int i = N_NOTES - shown; i < N_NOTES; i++)
        w = (int)strlen(notes[i]) + 4 > w ? (int)strlen(notes[i]) + 4 : w;
    w = w > l->cols ? l->cols : w;
    h = h > l->lines ? l->lines : h;
    int y = (l->lines - h) / 2, x = (l->cols - w) / 2;
    ui_draw_box(y, x, h, w);
    ui_draw_str(y, x + 2, w - 4, " slimbench keys ", UI_ST_TITLE);
    for (int i = 0; i < n; i++) {
        int cy = y + 1 + i % rows, cx = x + 2 + (i / rows) * (entry_w + GAP);
        if (cy >= y + h - 1)
            continue;
        ui_draw_text(cy, cx, LABEL_W, b[i].label, false, UI_ST_MARK);
        ui_draw_str(cy, cx + LABEL_W, x + w - 2 - cx - LABEL_W, b[i].help, UI_ST_NORMAL);
    }
    int first = N_NOTES - shown;
    for (int i = 0; i < shown; i++) {
        const char *t = notes[first + i];
        ui_draw_str(y + 2 + rows + i, x + 2, w - 4,
                    strncmp(t, "Each edit", 9) == 0 && s->utf8
                        ? "Each edit re-evaluates in the background; \u2248 marks estimates (95% "
                          "interval)."
                        : t,
                    UI_ST_DIM);
    }
}
