/* Screen geometry and table columns: pure functions of the terminal size and the UI state, so
 * resizing, hit-testing and column fitting are tested without a terminal. */
#ifndef UI_LAYOUT_H
#define UI_LAYOUT_H

#include "ui_state.h"

#include <stddef.h>

enum {
    UI_MIN_COLS = 40, /* below this the views draw a "too small" notice */
    UI_MIN_LINES = 10,
    UI_WIDE_COLS = 130, /* from here the detail pane sits beside the table */
    UI_HEADER_LINES = 5, /* title and four metric lines */
    UI_HEADER_SHORT = 3, /* below UI_HEADER_FULL_FROM lines: title, top-1, latency */
    UI_HEADER_FULL_FROM = 20,
    UI_ROW_PREFIX = 2, /* mark glyph and a space before the first column */
};

typedef struct ui_rect {
    int y, x, h, w;
} ui_rect;

typedef struct ui_layout {
    int cols, lines;
    bool too_small;
    ui_rect header, table, detail, status; /* detail.h == 0 when hidden */
    int body_y, body_rows;                 /* table rows between column titles and totals */
} ui_layout;

ui_layout ui_layout_compute(int cols, int lines, const ui_state *s);
/* Table body row under screen cell (y, x), or -1. */
int ui_layout_body_row(const ui_layout *l, int y, int x);

typedef enum {
    UI_COL_NAME,
    UI_COL_OP,
    UI_COL_SHAPE,
    UI_COL_PARAMS,
    UI_COL_MACS,
    UI_COL_MACS_PCT,
    UI_COL_ZEROS,
    UI_COL_L1,
    UI_COL_PRUNE,
    UI_COL_QUANT,
    UI_COL_KERNEL,  /* the kernel that runs the layer at batch 1 */
    UI_COL_TIME,    /* its measured median time (ms) */
    UI_COL_SPEEDUP, /* base time / current time, only with "now/base" cells */
    UI_COL_SENS,
    UI_COL_COUNT
} ui_col_id;

typedef struct ui_colset {
    bool wide; /* cells that changed show "now/base" */
    int n;     /* columns shown, left to right */
    ui_col_id id[UI_COL_COUNT];
    int x[UI_COL_COUNT]; /* offset from the table's left edge */
    int w[UI_COL_COUNT];
} ui_colset;

/* Chooses columns and widths for a table width columns wide: the name column takes what is left,
 * less important columns are dropped first when narrow. */
ui_colset ui_table_columns(const ui_state *s, int width);
const char *ui_column_title(ui_col_id id);
bool ui_column_right(ui_col_id id);
/* The text of one cell, at most width columns; r == NULL gives the totals row. Numbers are the
 * current model's; wide cells add the base value where it differs ("120k/240k"). */
char *ui_table_cell(const ui_state *s, const ui_row *r, ui_col_id id, int width, char *buf,
                    size_t n);
char *ui_table_cell_ex(const ui_state *s, const ui_row *r, ui_col_id id, int width, bool wide,
                       char *buf, size_t n);
/* Whether the cell's value differs from the base model's (drawn highlighted). */
bool ui_table_cell_changed(const ui_state *s, const ui_row *r, ui_col_id id);
/* The current model runs the layer with another kernel than the base model. */
bool ui_table_kernel_changed(const ui_state *s, const ui_row *r);

#endif
