#include "ui_layout.h"

#include "ui_format.h"

#include <stdio.h>
#include <string.h>

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

ui_layout ui_layout_compute(int cols, int lines, const ui_state *s)
{
    ui_layout l = {.cols = cols, .lines = lines};
    l.too_small = cols < UI_MIN_COLS || lines < UI_MIN_LINES;
    l.header = (ui_rect){0, 0, UI_HEADER_LINES, cols};
    l.status = (ui_rect){lines - 1, 0, 1, cols};
    int y = UI_HEADER_LINES, h = lines - 1 - UI_HEADER_LINES;
    l.table = (ui_rect){y, 0, h, cols};
    if (s->show_detail && cols >= UI_WIDE_COLS) {
        int w = clampi(cols / 3, 44, 72);
        l.detail = (ui_rect){y, cols - w, h, w};
        l.table.w = cols - w - 1;
    } else if (s->show_detail) {
        int dh = h / 2;
        l.detail = (ui_rect){y + h - dh, 0, dh, cols};
        l.table.h = h - dh;
    }
    l.body_y = l.table.y + 1;
    l.body_rows = l.table.h - 2 > 1 ? l.table.h - 2 : 1;
    return l;
}

int ui_layout_body_row(const ui_layout *l, int y, int x)
{
    if (x < l->table.x || x >= l->table.x + l->table.w)
        return -1;
    return y >= l->body_y && y < l->body_y + l->body_rows ? y - l->body_y : -1;
}

/* ---- columns ---- */

enum { NAME_MIN = 10, L1_NATURAL = 10, L1_MAX = 32 };

typedef struct column_spec {
    const char *title;
    bool right;
    int drop; /* 0: always shown; when narrow the highest is dropped first */
} column_spec;

static const column_spec columns[UI_COL_COUNT] = {
    [UI_COL_NAME] = {"layer", false, 0},   [UI_COL_OP] = {"op", false, 6},
    [UI_COL_SHAPE] = {"output", false, 7}, [UI_COL_PARAMS] = {"params", true, 0},
    [UI_COL_MACS] = {"MACs", true, 0},     [UI_COL_MACS_PCT] = {"%MACs", true, 5},
    [UI_COL_ZEROS] = {"zeros", true, 8},   [UI_COL_L1] = {"L1 by chan", false, 2},
    [UI_COL_PRUNE] = {"prune", true, 3},   [UI_COL_QUANT] = {"quant", true, 4},
};

const char *ui_column_title(ui_col_id id) { return columns[id].title; }
bool ui_column_right(ui_col_id id) { return columns[id].right; }

static char *shape_cell(const sb_shape *sh, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    for (int d = sh->rank > 1 && sh->dim[0] == 1; d < sh->rank && len < n; d++)
        len +=
            (size_t)snprintf(buf + len, n - len, "%s%lld", len ? "x" : "", (long long)sh->dim[d]);
    return buf;
}

static double ratio(int64_t a, int64_t b) { return b > 0 ? (double)a / (double)b : 0; }

/* "50%m" magnitude, "50%c" channels (L1), "g" global; "w4", "w8a8" quantised; else "-". */
static char *setting_cell(const ui_state *s, const ui_row *r, ui_col_id id, char *buf, size_t n)
{
    static const char method[] = {
        [SB_PRUNE_MAGNITUDE] = 'm', [SB_PRUNE_L1] = 'c', [SB_PRUNE_GLOBAL] = 'g'};
    int i = ui_table_row_index(s, r);
    const sb_layer_config *c = i < s->cfg.n_layers ? &s->cfg.layer[i] : NULL;
    snprintf(buf, n, "-");
    if (!c)
        return buf;
    if (id == UI_COL_PRUNE && c->prune == SB_PRUNE_GLOBAL)
        snprintf(buf, n, "g");
    else if (id == UI_COL_PRUNE && c->prune != SB_PRUNE_NONE)
        snprintf(buf, n, "%.0f%%%c", 100.0 * c->ratio, method[c->prune]);
    else if (id == UI_COL_QUANT && (c->wbits < 32 || c->act8))
        snprintf(buf, n, c->act8 ? "w%da8" : "w%d", c->wbits);
    return buf;
}

static char *total_cell(const ui_state *s, ui_col_id id, char *buf, size_t n)
{
    const sb_model_totals *t = &s->totals;
    buf[0] = 0;
    switch (id) {
    case UI_COL_NAME: snprintf(buf, n, "total: %d layers", s->n_rows); break;
    case UI_COL_PARAMS: ui_fmt_count(buf, n, t->params); break;
    case UI_COL_MACS: ui_fmt_count(buf, n, t->macs); break;
    case UI_COL_MACS_PCT: ui_fmt_pct(buf, n, t->macs > 0 ? 1.0 : 0.0); break;
    case UI_COL_ZEROS: ui_fmt_pct(buf, n, ratio(t->zeros, t->params)); break;
    default: break;
    }
    return buf;
}

char *ui_table_cell(const ui_state *s, const ui_row *r, ui_col_id id, int width, char *buf,
                    size_t n)
{
    if (!r)
        return total_cell(s, id, buf, n);
    const sb_layer_info *in = &r->info;
    switch (id) {
    case UI_COL_NAME: snprintf(buf, n, "%s", in->name); break;
    case UI_COL_OP: snprintf(buf, n, "%s", in->op); break;
    case UI_COL_SHAPE: shape_cell(&in->out_shape, buf, n); break;
    case UI_COL_PARAMS: ui_fmt_count(buf, n, in->params); break;
    case UI_COL_MACS: ui_fmt_count(buf, n, in->macs); break;
    case UI_COL_MACS_PCT: ui_fmt_pct(buf, n, ratio(in->macs, s->totals.macs)); break;
    case UI_COL_ZEROS: ui_fmt_pct(buf, n, ratio(in->zeros, in->params)); break;
    case UI_COL_L1: ui_spark(buf, n, r->l1_sorted, (int)in->out_channels, width, s->utf8); break;
    default: setting_cell(s, r, id, buf, n); break;
    }
    return buf;
}

static int natural_width(const ui_state *s, ui_col_id id)
{
    char buf[256];
    int w = ui_text_width(columns[id].title);
    if (id == UI_COL_L1)
        return L1_NATURAL > w ? L1_NATURAL : w;
    for (int i = id == UI_COL_NAME ? 0 : -1; i < s->n_rows; i++) { /* "total" spans blanks */
        int cw =
            ui_text_width(ui_table_cell(s, i < 0 ? NULL : &s->rows[i], id, 0, buf, sizeof buf));
        w = cw > w ? cw : w;
    }
    return w;
}

static int used_width(const bool *on, const int *w)
{
    int used = 0;
    for (int id = 0; id < UI_COL_COUNT; id++)
        used += on[id] && id != UI_COL_NAME ? w[id] + 1 : 0;
    return used;
}

static bool drop_one(bool *on)
{
    int worst = -1;
    for (int id = 0; id < UI_COL_COUNT; id++)
        if (on[id] && columns[id].drop && (worst < 0 || columns[id].drop > columns[worst].drop))
            worst = id;
    if (worst >= 0)
        on[worst] = false;
    return worst >= 0;
}

ui_colset ui_table_columns(const ui_state *s, int width)
{
    int w[UI_COL_COUNT];
    bool on[UI_COL_COUNT];
    for (int id = 0; id < UI_COL_COUNT; id++) {
        w[id] = natural_width(s, (ui_col_id)id);
        on[id] = true;
    }
    int avail = width - UI_ROW_PREFIX;
    while (avail - used_width(on, w) < NAME_MIN && drop_one(on))
        ;
    int room = avail - used_width(on, w);
    int name_w = room < w[UI_COL_NAME] ? room : w[UI_COL_NAME];
    name_w = name_w < 4 ? 4 : name_w;
    if (on[UI_COL_L1]) {
        int grow = clampi(room - name_w, 0, L1_MAX - w[UI_COL_L1]);
        w[UI_COL_L1] += grow;
    }
    w[UI_COL_NAME] = name_w;
    ui_colset cs = {0};
    for (int id = 0, x = UI_ROW_PREFIX; id < UI_COL_COUNT; id++) {
        if (!on[id])
            continue;
        cs.id[cs.n] = (ui_col_id)id;
        cs.x[cs.n] = x;
        cs.w[cs.n++] = w[id];
        x += w[id] + 1;
    }
    return cs;
}
