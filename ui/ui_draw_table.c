/* The layer table view: header, table, optional detail pane, status line. */
#include "ui_draw.h"

#include "ui_format.h"

#include <curses.h>
#include <stdio.h>
#include <string.h>

static void draw_titles(const ui_colset *cs, int y, int x0, int w)
{
    ui_draw_fill(y, x0, w, UI_ST_COLHEAD);
    for (int i = 0; i < cs->n; i++)
        ui_draw_text(y, x0 + cs->x[i], cs->w[i], ui_column_title(cs->id[i]),
                     ui_column_right(cs->id[i]), UI_ST_COLHEAD);
}

/* Width of the totals label in cell i, running on over the blank cells after it. */
static int total_span(const ui_state *s, const ui_colset *cs, int i)
{
    char buf[64];
    int j = i;
    while (j + 1 < cs->n && !*ui_table_cell(s, NULL, cs->id[j + 1], 0, buf, sizeof buf))
        j++;
    return cs->x[j] + cs->w[j] - cs->x[i];
}

/* One table line: a layer, or the totals when r is NULL. */
static void draw_row(const ui_state *s, const ui_colset *cs, const ui_row *r, int y, int x0, int w,
                     ui_style st)
{
    char buf[512];
    ui_draw_fill(y, x0, w, st);
    if (r && s->marked[ui_table_row_index(s, r)])
        ui_draw_str(y, x0, 1, s->utf8 ? "\u25cf" : "*", st == UI_ST_SELECTED ? st : UI_ST_MARK);
    if (st == UI_ST_SELECTED) /* visible without reverse video too, and in screen dumps */
        ui_draw_str(y, x0 + 1, 1, ">", st);
    for (int i = 0; i < cs->n; i++) {
        ui_col_id id = cs->id[i];
        ui_table_cell(s, r, id, cs->w[i], buf, sizeof buf);
        if (!r && !buf[0])
            continue;
        ui_style cst = id == UI_COL_L1 && st == UI_ST_NORMAL ? UI_ST_BAR : st;
        ui_draw_text(y, x0 + cs->x[i], r || id != UI_COL_NAME ? cs->w[i] : total_span(s, cs, i),
                     buf, ui_column_right(id), cst);
    }
}

static void draw_table(const ui_state *s, const ui_layout *l)
{
    const ui_rect *t = &l->table;
    ui_colset cs = ui_table_columns(s, t->w);
    draw_titles(&cs, t->y, t->x, t->w);
    int shown = 0;
    for (; shown < l->body_rows && s->top + shown < s->n_rows; shown++) {
        int pos = s->top + shown;
        draw_row(s, &cs, &s->rows[s->order[pos]], l->body_y + shown, t->x, t->w,
                 pos == s->sel ? UI_ST_SELECTED : UI_ST_NORMAL);
    }
    draw_row(s, &cs, NULL, l->body_y + shown, t->x, t->w, UI_ST_TOTAL);
    if (s->top > 0 || s->top + shown < s->n_rows) { /* there is more above or below */
        char more[32];
        snprintf(more, sizeof more, "%s%s", s->top > 0 ? "^" : " ",
                 s->top + shown < s->n_rows ? "v" : " ");
        ui_draw_str(l->body_y + shown, t->x + t->w - 2, 2, more, UI_ST_DIM);
    }
}

void ui_draw_table_view(const ui_state *s, const ui_layout *l)
{
    if (l->too_small) {
        ui_draw_too_small(l);
        return;
    }
    ui_draw_header(s, &l->header);
    draw_table(s, l);
    if (l->detail.h)
        ui_draw_detail(s, &l->detail);
    ui_draw_status(s, &l->status);
}

/* ---- detail pane ---- */

typedef struct info_pair {
    const char *label;
    const char *value;
} info_pair;

/* Label/value pairs, two per line when the pane is wide; returns the next free line. */
static int draw_info(const info_pair *p, int n, const ui_rect *r, int y)
{
    enum { LABEL_W = 7 };
    int per_line = r->w >= 80 ? 2 : 1, cw = r->w / per_line;
    for (int i = 0; i < n && y < r->y + r->h; i++) {
        int x = r->x + (i % per_line) * cw;
        ui_draw_text(y, x, LABEL_W, p[i].label, false, UI_ST_DIM);
        ui_draw_text(y, x + LABEL_W, cw - LABEL_W - 1, p[i].value, false, UI_ST_NORMAL);
        if (i % per_line == per_line - 1 || i == n - 1)
            y++;
    }
    return y;
}

static int digits(int64_t v)
{
    int d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

/* Sorted per-channel L1 as horizontal bars, column-major in as many columns as fit. */
static void draw_channels(const ui_state *s, const ui_row *row, const ui_rect *r, int y)
{
    enum { CELL_MIN = 26, VALUE_W = 7 };
    int n = (int)row->info.out_channels, rows = r->y + r->h - y - 1;
    if (rows <= 0 || n <= 0)
        return;
    int ncols = r->w / CELL_MIN > 0 ? r->w / CELL_MIN : 1;
    ncols = ncols < (n + rows - 1) / rows ? ncols : (n + rows - 1) / rows; /* no empty columns */
    int cw = r->w / ncols;
    int first = s->detail_scroll < n ? s->detail_scroll : n - 1;
    int last = first + rows * ncols < n ? first + rows * ncols : n;
    char cap[160];
    snprintf(cap, sizeof cap, "channel L1, largest first: %d-%d of %d%s", first + 1, last, n,
             n > rows * ncols ? "   ([ ] scroll)" : "");
    ui_draw_str(y++, r->x, r->w, cap, UI_ST_DIM);
    int lw = digits(n) + 2, bw = cw - lw - VALUE_W - 2;
    double top = row->l1_sorted[0] > 0 ? row->l1_sorted[0] : 1;
    int prec = top >= 100 ? 0 : top >= 10 ? 1 : top >= 1 ? 2 : 3; /* same decimals in a pane */
    for (int i = first; i < last; i++) {
        int k = i - first, cy = y + k % rows, cx = r->x + (k / rows) * cw;
        char label[32], bar[512], value[32];
        snprintf(label, sizeof label, "c%d", row->l1_channel[i]);
        snprintf(value, sizeof value, "%.*f", prec, row->l1_sorted[i]);
        ui_draw_text(cy, cx, lw, label, false, UI_ST_DIM);
        ui_draw_text(cy, cx + lw, bw,
                     ui_hbar(bar, sizeof bar, row->l1_sorted[i] / top, bw, s->utf8), false,
                     UI_ST_BAR);
        ui_draw_text(cy, cx + lw + bw + 1, VALUE_W, value, true, UI_ST_NORMAL);
    }
}

void ui_draw_detail(const ui_state *s, const ui_rect *r)
{
    const ui_row *row = ui_table_selected(s);
    const sb_layer_info *in = row ? &row->info : NULL;
    if (!in || r->h < 2)
        return;
    if (r->x > 0) {
        attrset(A_NORMAL);
        mvvline(r->y, r->x - 1, ACS_VLINE, r->h);
    }
    char title[256], l1[128];
    snprintf(title, sizeof title, "%s: %s, %lld output channels", in->name, in->op,
             (long long)in->out_channels);
    ui_draw_rule(r->y, r->x, r->w, title);
    snprintf(l1, sizeof l1, "min %.3g  median %.3g  max %.3g", in->l1_min, in->l1_median,
             in->l1_max);
    const info_pair info[] = {
        {"node", in->node_name ? in->node_name : "-"},
        {"weight", in->weight_name ? in->weight_name : "-"},
        {"folded", in->bn_name ? in->bn_name : "no BatchNormalization"},
        {"L1", l1},
    };
    int y = draw_info(info, (int)(sizeof info / sizeof info[0]), r, r->y + 1);
    draw_channels(s, row, r, y);
}
