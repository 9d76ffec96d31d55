#include "ui_layout.h"

#include "ui_edit.h"
#include "ui_format.h"

#include <stdio.h>
#include <string.h>

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

ui_layout ui_layout_compute(int cols, int lines, const ui_state *s)
{
    ui_layout l = {.cols = cols, .lines = lines};
    l.too_small = cols < UI_MIN_COLS || lines < UI_MIN_LINES;
    int head = lines >= UI_HEADER_FULL_FROM ? UI_HEADER_LINES : UI_HEADER_SHORT;
    l.header = (ui_rect){0, 0, head, cols};
    l.status = (ui_rect){lines - 1, 0, 1, cols};
    int y = head, h = lines - 1 - head;
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

enum { NAME_MIN = 10, NAME_WANT = 20, L1_NATURAL = 10, L1_MAX = 32 };

typedef struct column_spec {
    const char *title;
    bool right;
    int drop; /* 0: always shown; when narrow the highest is dropped first */
} column_spec;

static const column_spec columns[UI_COL_COUNT] = {
    [UI_COL_NAME] = {"layer", false, 0},     [UI_COL_OP] = {"op", false, 11},
    [UI_COL_SHAPE] = {"output", false, 10},  [UI_COL_PARAMS] = {"params", true, 0},
    [UI_COL_MACS] = {"MACs", true, 0},       [UI_COL_MACS_PCT] = {"%MACs", true, 9},
    [UI_COL_ZEROS] = {"zeros", true, 6},     [UI_COL_L1] = {"L1 by chan", false, 8},
    [UI_COL_PRUNE] = {"prune", false, 2},    [UI_COL_QUANT] = {"quant", false, 3},
    [UI_COL_KERNEL] = {"kernel", false, 5},  [UI_COL_TIME] = {"ms", true, 4},
    [UI_COL_SPEEDUP] = {"speed", true, 12}, [UI_COL_SENS] = {"sens", true, 7},
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

static bool same_shape(const sb_shape *a, const sb_shape *b)
{
    if (a->rank != b->rank)
        return false;
    for (int d = 0; d < a->rank; d++)
        if (a->dim[d] != b->dim[d])
            return false;
    return true;
}

/* Totals of the current model's layers (or the base's). */
static void totals_now(const ui_state *s, int64_t *params, int64_t *macs, int64_t *zeros)
{
    *params = s->totals.params, *macs = s->totals.macs, *zeros = s->totals.zeros;
    if (!ui_row_now(s, 0))
        return;
    *params = *macs = *zeros = 0;
    for (int i = 0; i < s->n_rows; i++) {
        const ui_layer_stats *ls = ui_row_now(s, i);
        *params += ls ? ls->params : s->rows[i].info.params;
        *macs += ls ? ls->macs : s->rows[i].info.macs;
        *zeros += ls ? ls->zeros : s->rows[i].info.zeros;
    }
}

static char *count_pair(char *buf, size_t n, int64_t now, int64_t base, bool wide)
{
    char a[16], b[16];
    ui_fmt_count(a, sizeof a, now);
    if (wide && now != base)
        snprintf(buf, n, "%s/%s", a, ui_fmt_count(b, sizeof b, base));
    else
        snprintf(buf, n, "%s", a);
    return buf;
}

/* ---- kernels and times: "..." until known, "(old)" while a new one is pending ---- */

static bool shown(ui_measure m) { return m == UI_MEASURE_CURRENT || m == UI_MEASURE_STALE; }

static char *measured(char *buf, size_t n, ui_measure m, const char *text)
{
    if (m == UI_MEASURE_CURRENT)
        snprintf(buf, n, "%s", text);
    else if (m == UI_MEASURE_STALE)
        snprintf(buf, n, "(%s)", text);
    else
        snprintf(buf, n, "%s", m == UI_MEASURE_FAILED ? "-" : "...");
    return buf;
}

/* "0.0412", wide "0.0412/0.0825" (now/base) when both are measured and the model is edited. */
static char *time_text(const ui_state *s, double ms, double base_ms, bool wide, char *buf,
                       size_t n)
{
    char a[16], b[16];
    if (ms <= 0)
        snprintf(buf, n, "-"); /* no step of its own (fused into another) */
    else if (wide && base_ms > 0 && !ui_state_is_base(s))
        snprintf(buf, n, "%s/%s", ui_fmt_ms(a, sizeof a, ms), ui_fmt_ms(b, sizeof b, base_ms));
    else
        ui_fmt_ms(buf, n, ms);
    return buf;
}

static char *speedup_text(const ui_state *s, ui_measure m, double ms, double base_ms, char *buf,
                          size_t n)
{
    buf[0] = 0;
    if (m == UI_MEASURE_CURRENT && ms > 0 && base_ms > 0 && !ui_state_is_base(s))
        snprintf(buf, n, "%.2fx", base_ms / ms);
    return buf;
}

static char *time_total(const ui_state *s, ui_col_id id, bool wide, char *buf, size_t n)
{
    double ms, base_ms;
    char t[48];
    ui_measure m = ui_times_sum(s, &ms, &base_ms);
    buf[0] = 0;
    if (id == UI_COL_SPEEDUP)
        return speedup_text(s, m, ms, base_ms, buf, n);
    if (shown(m))
        measured(buf, n, m, time_text(s, ms, base_ms, wide, t, sizeof t));
    return buf;
}

static char *time_cell(const ui_state *s, int row, ui_col_id id, bool wide, char *buf, size_t n)
{
    double ms;
    char t[48];
    ui_measure m = ui_row_time(s, row, &ms);
    double base_ms = ui_row_base_time(s, row);
    if (id == UI_COL_SPEEDUP)
        return speedup_text(s, m, ms, base_ms, buf, n);
    return measured(buf, n, m, time_text(s, ms, base_ms, wide, t, sizeof t));
}

static char *kernel_cell(const ui_state *s, int row, char *buf, size_t n)
{
    const char *k;
    ui_measure m = ui_row_kernel(s, row, &k);
    return measured(buf, n, m, k[0] ? k : "-");
}

static char *total_cell(const ui_state *s, ui_col_id id, bool wide, char *buf, size_t n)
{
    int64_t params, macs, zeros;
    totals_now(s, &params, &macs, &zeros);
    buf[0] = 0;
    switch (id) {
    case UI_COL_NAME: snprintf(buf, n, "total: %d layers", s->n_rows); break;
    case UI_COL_PARAMS: count_pair(buf, n, params, s->totals.params, wide); break;
    case UI_COL_MACS: count_pair(buf, n, macs, s->totals.macs, wide); break;
    case UI_COL_MACS_PCT: ui_fmt_pct(buf, n, ratio(macs, s->totals.macs)); break;
    case UI_COL_ZEROS: ui_fmt_pct(buf, n, ratio(zeros, params)); break;
    case UI_COL_TIME:
    case UI_COL_SPEEDUP: time_total(s, id, wide, buf, n); break;
    default: break;
    }
    return buf;
}

/* Top-1 change (points) when the layer alone is pruned by half, from its sweep. */
static char *sens_cell(const ui_state *s, const ui_row *r, char *buf, size_t n)
{
    const ui_sens *sn = &r->sens;
    const ui_job_report *sw = &s->job[UI_JOB_SWEEP];
    buf[0] = 0;
    if (sn->known) {
        int at0 = -1, at5 = -1;
        for (int i = 0; i < sn->n; i++) {
            at0 = sn->ratio[i] == 0 ? i : at0;
            at5 = sn->ratio[i] > 0.49 && sn->ratio[i] < 0.51 ? i : at5;
        }
        if (at0 >= 0 && at5 >= 0)
            snprintf(buf, n, "%+.1f", 100 * (sn->top1[at5] - sn->top1[at0]));
    } else if ((sw->state == UI_JOB_RUNNING || sw->state == UI_JOB_QUEUED) &&
               sw->layer == ui_table_row_index(s, r)) {
        snprintf(buf, n, "...");
    }
    return buf;
}

bool ui_table_cell_changed(const ui_state *s, const ui_row *r, ui_col_id id)
{
    if (id == UI_COL_KERNEL)
        return ui_table_kernel_changed(s, r);
    if (!r)
        return false;
    const ui_layer_stats *now = ui_row_now(s, ui_table_row_index(s, r));
    const sb_layer_info *in = &r->info;
    if (!now)
        return false;
    switch (id) {
    case UI_COL_SHAPE: return !same_shape(&now->out_shape, &in->out_shape);
    case UI_COL_PARAMS: return now->params != in->params;
    case UI_COL_MACS:
    case UI_COL_MACS_PCT: return now->macs != in->macs;
    case UI_COL_ZEROS: return now->zeros != in->zeros;
    default: return false;
    }
}

bool ui_table_kernel_changed(const ui_state *s, const ui_row *r)
{
    const char *k;
    return r && ui_row_kernel(s, ui_table_row_index(s, r), &k) == UI_MEASURE_CURRENT &&
           strcmp(k, r->kernel) != 0;
}

char *ui_table_cell_ex(const ui_state *s, const ui_row *r, ui_col_id id, int width, bool wide,
                       char *buf, size_t n)
{
    if (!r)
        return total_cell(s, id, wide, buf, n);
    const sb_layer_info *in = &r->info;
    int row = ui_table_row_index(s, r);
    const ui_layer_stats *now = ui_row_now(s, row);
    sb_shape shape = now ? now->out_shape : in->out_shape;
    int64_t params = now ? now->params : in->params, macs = now ? now->macs : in->macs;
    int64_t zeros = now ? now->zeros : in->zeros;
    char a[64], b[64];
    switch (id) {
    case UI_COL_NAME: snprintf(buf, n, "%s", in->name); break;
    case UI_COL_OP: snprintf(buf, n, "%s", in->op); break;
    case UI_COL_SHAPE:
        shape_cell(&shape, a, sizeof a);
        if (wide && !same_shape(&shape, &in->out_shape))
            snprintf(buf, n, "%s/%s", a, shape_cell(&in->out_shape, b, sizeof b));
        else
            snprintf(buf, n, "%s", a);
        break;
    case UI_COL_PARAMS: count_pair(buf, n, params, in->params, wide); break;
    case UI_COL_MACS: count_pair(buf, n, macs, in->macs, wide); break;
    case UI_COL_MACS_PCT: ui_fmt_pct(buf, n, ratio(macs, s->totals.macs)); break;
    case UI_COL_ZEROS: ui_fmt_pct(buf, n, ratio(zeros, params)); break;
    case UI_COL_L1: ui_spark(buf, n, r->l1_sorted, (int)in->out_channels, width, s->utf8); break;
    case UI_COL_PRUNE: ui_prune_text(s, row, buf, n); break;
    case UI_COL_QUANT:
        if (row < s->cfg.n_layers)
            ui_quant_text(&s->cfg.layer[row], buf, n);
        else
            snprintf(buf, n, "-");
        break;
    case UI_COL_KERNEL: kernel_cell(s, row, buf, n); break;
    case UI_COL_TIME:
    case UI_COL_SPEEDUP: time_cell(s, row, id, wide, buf, n); break;
    case UI_COL_SENS: sens_cell(s, r, buf, n); break;
    default: buf[0] = 0; break;
    }
    return buf;
}

char *ui_table_cell(const ui_state *s, const ui_row *r, ui_col_id id, int width, char *buf,
                    size_t n)
{
    return ui_table_cell_ex(s, r, id, width, false, buf, n);
}

static int natural_width(const ui_state *s, ui_col_id id, bool wide)
{
    char buf[256];
    int w = ui_text_width(columns[id].title);
    if (id == UI_COL_L1)
        return L1_NATURAL > w ? L1_NATURAL : w;
    for (int i = id == UI_COL_NAME ? 0 : -1; i < s->n_rows; i++) { /* "total" spans blanks */
        int cw = ui_text_width(
            ui_table_cell_ex(s, i < 0 ? NULL : &s->rows[i], id, 0, wide, buf, sizeof buf));
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

/* The sensitivity column appears once a sweep has run or runs. */
static bool has_sens(const ui_state *s)
{
    const ui_job_report *sw = &s->job[UI_JOB_SWEEP];
    if (sw->state == UI_JOB_RUNNING || sw->state == UI_JOB_QUEUED)
        return true;
    for (int i = 0; i < s->n_rows; i++)
        if (s->rows[i].sens.known)
            return true;
    return false;
}

/* Columns at their natural widths, dropping the least important until the name has room;
 * false when a column had to go. */
static bool choose(const ui_state *s, int width, bool wide, bool *on, int *w)
{
    bool all = true;
    for (int id = 0; id < UI_COL_COUNT; id++) {
        w[id] = natural_width(s, (ui_col_id)id, wide);
        on[id] = id == UI_COL_SENS      ? has_sens(s)
                 : id == UI_COL_SPEEDUP ? wide && !ui_state_is_base(s)
                                        : true;
    }
    /* module paths ("blocks.3.expand.0") are what tells layers apart: give the name up to
     * NAME_WANT columns before keeping the op and the shape */
    int avail = width - UI_ROW_PREFIX;
    int want = w[UI_COL_NAME] < NAME_WANT ? w[UI_COL_NAME] : NAME_WANT;
    want = want < NAME_MIN ? NAME_MIN : want;
    while (avail - used_width(on, w) < want && drop_one(on))
        all = false;
    return all && avail - used_width(on, w) >= want;
}

/* The name width at which "total: N layers" fits, running on over the blank totals cells that
 * follow it (op, output). */
static int total_label_need(const ui_state *s, const bool *on, const int *w)
{
    char buf[64];
    int need = ui_text_width(total_cell(s, UI_COL_NAME, false, buf, sizeof buf));
    for (int id = UI_COL_NAME + 1; id < UI_COL_COUNT && !*total_cell(s, id, false, buf, sizeof buf);
         id++)
        need -= on[id] ? w[id] + 1 : 0;
    return need;
}

ui_colset ui_table_columns(const ui_state *s, int width)
{
    int w[UI_COL_COUNT];
    bool on[UI_COL_COUNT];
    bool wide = ui_row_now(s, 0) && choose(s, width, true, on, w); /* "now/base" cells fit */
    if (!wide)
        choose(s, width, false, on, w);
    int avail = width - UI_ROW_PREFIX;
    int room = avail - used_width(on, w);
    int want = w[UI_COL_NAME] > total_label_need(s, on, w) ? w[UI_COL_NAME]
                                                            : total_label_need(s, on, w);
    int name_w = room < want ? room : want;
    name_w = name_w < 4 ? 4 : name_w;
    if (on[UI_COL_L1]) {
        int grow = clampi(room - name_w, 0, L1_MAX - w[UI_COL_L1]);
        w[UI_COL_L1] += grow;
    }
    w[UI_COL_NAME] = name_w;
    ui_colset cs = {.wide = wide};
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
