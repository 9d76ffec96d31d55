/* Drawing with curses: a small style table and clipped text primitives, and one draw function
 * per view. Only the UI thread calls these. Views read the state; they never change it. */
#ifndef UI_DRAW_H
#define UI_DRAW_H

#include "ui_layout.h"
#include "ui_state.h"

typedef enum {
    UI_ST_NORMAL,
    UI_ST_TITLE,
    UI_ST_COLHEAD,
    UI_ST_SELECTED,
    UI_ST_MARK,
    UI_ST_ESTIMATE,
    UI_ST_FINAL,
    UI_ST_BAR,
    UI_ST_DIM,
    UI_ST_ERROR,
    UI_ST_STATUS,
    UI_ST_TOTAL,
    UI_ST_FRAME,
    UI_ST_BETTER,  /* a change for the better */
    UI_ST_WORSE,   /* ... for the worse */
    UI_ST_CHANGED, /* a table cell that differs from the base model */
    UI_ST_VISUAL,  /* rows in a visual range */
    UI_ST_REMOVED, /* channels the current setting removes */
    UI_ST_STATUS_ERROR,
    UI_ST_COUNT
} ui_style;

/* After initscr: colours only when the terminal has them; utf8 selects block glyphs. */
void ui_draw_init(bool utf8);
/* Text at (y, x) fitted to exactly w columns (padded or shortened in the middle). */
void ui_draw_text(int y, int x, int w, const char *text, bool right, ui_style st);
/* Text at (y, x), clipped to max columns, not padded; returns the columns used. */
int ui_draw_str(int y, int x, int max, const char *text, ui_style st);
void ui_draw_fill(int y, int x, int w, ui_style st);
/* A horizontal rule with an optional title: "── title ────". */
void ui_draw_rule(int y, int x, int w, const char *title);
void ui_draw_box(int y, int x, int h, int w);
void ui_draw_too_small(const ui_layout *l);

void ui_draw_header(const ui_state *s, const ui_rect *r);
void ui_draw_status(const ui_state *s, const ui_rect *r);
void ui_draw_detail(const ui_state *s, const ui_rect *r);

void ui_draw_table_view(const ui_state *s, const ui_layout *l);
void ui_draw_demo_view(const ui_state *s, const ui_layout *l);
void ui_draw_help_view(const ui_state *s, const ui_layout *l);
void ui_draw_finetune_dialog(const ui_state *s, const ui_layout *l); /* when it is open */

#endif
