/* The layer table view: header, table, optional detail pane, status line. */
#include "ui_draw.h"

#include "ui_edit.h"
#include "ui_format.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
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

static ui_style cell_style(const ui_state *s, const ui_row *r, ui_col_id id, const char *text,
                           ui_style row_st)
{
    if (row_st != UI_ST_NORMAL || !r)
        return row_st;
    if (id == UI_COL_L1)
        return UI_ST_BAR;
    if ((id == UI_COL_PRUNE || id == UI_COL_QUANT) && strcmp(text, "-") != 0)
        return UI_ST_MARK;
    if (id == UI_COL_SENS && text[0] == '-')
        return UI_ST_WORSE;
    if ((id == UI_COL_KERNEL || id == UI_COL_TIME) && (text[0] == '(' || text[0] == '.'))
        return UI_ST_DIM; /* a previous configuration's, or not measured yet */
    if (id == UI_COL_SPEEDUP && text[0])
        return strtod(text, NULL) >= 1.05   ? UI_ST_BETTER
               : strtod(text, NULL) <= 0.95 ? UI_ST_WORSE
                                            : row_st;
    return ui_table_cell_changed(s, r, id) ? UI_ST_CHANGED : row_st;
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
    else if (st == UI_ST_VISUAL)
        ui_draw_str(y, x0 + 1, 1, "|", st);
    for (int i = 0; i < cs->n; i++) {
        ui_col_id id = cs->id[i];
        ui_table_cell_ex(s, r, id, cs->w[i], cs->wide, buf, sizeof buf);
        if (!r && !buf[0])
            continue;
        int cw = r || id != UI_COL_NAME ? cs->w[i] : total_span(s, cs, i);
        if (!r && id == UI_COL_NAME && ui_text_width(buf) > cw)
            snprintf(buf, sizeof buf, "total"); /* rather than a cut "total: 5 layers" */
        ui_draw_text(y, x0 + cs->x[i], cw, buf, ui_column_right(id), cell_style(s, r, id, buf, st));
    }
}

static void draw_table(const ui_state *s, const ui_layout *l)
{
    const ui_rect *t = &l->table;
    ui_colset cs = ui_table_columns(s, t->w);
    draw_titles(&cs, t->y, t->x, t->w);
    int shown = 0;
    for (; shown < l->body_rows && s->top + shown < s->n_rows; shown++) {
        int pos = s->top + shown, row = s->order[pos];
        draw_row(s, &cs, &s->rows[row], l->body_y + shown, t->x, t->w,
                 pos == s->sel                  ? UI_ST_SELECTED
                 : ui_visual_contains(s, row) ? UI_ST_VISUAL
                                                : UI_ST_NORMAL);
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
    ui_draw_finetune_dialog(s, l);
}

/* ---- detail pane ---- */

typedef struct info_pair {
    const char *label;
    const char *value;
} info_pair;

enum { LABEL_W = 8 };

/* Label/value pairs, two per line when the pane is wide; returns the next free line. */
static int draw_info(const info_pair *p, int n, const ui_rect *r, int y, int last)
{
    int per_line = r->w >= 80 ? 2 : 1, cw = r->w / per_line;
    for (int i = 0; i < n && y <= last; i++) {
        int x = r->x + (i % per_line) * cw;
        ui_draw_text(y, x, LABEL_W, p[i].label, false, UI_ST_DIM);
        ui_draw_text(y, x + LABEL_W, cw - LABEL_W - 1, p[i].value, false, UI_ST_NORMAL);
        if (i % per_line == per_line - 1 || i == n - 1)
            y++;
    }
    return y;
}

/* "label  text" with the text wrapped at blanks over at most max_lines lines. */
static int draw_wrapped(const ui_rect *r, int y, int max_lines, const char *label,
                        const char *text, ui_style st)
{
    int w = r->w - LABEL_W, used = 0;
    ui_draw_text(y, r->x, LABEL_W, label, false, UI_ST_DIM);
    const char *p = text;
    while (*p && used < max_lines) {
        int len = (int)strlen(p), cut = len;
        if (ui_text_width(p) > w && used < max_lines - 1) {
            cut = 0;
            for (int i = 0, col = 0; p[i] && col <= w; i++) {
                col += ((unsigned char)p[i] & 0xC0) != 0x80;
                if (p[i] == ' ' && col <= w)
                    cut = i;
            }
            cut = cut ? cut : len;
        }
        char line[1024];
        snprintf(line, sizeof line, "%.*s", cut, p);
        ui_draw_str(y + used, r->x + LABEL_W, w, line, st);
        used++;
        p += cut;
        while (*p == ' ')
            p++;
    }
    return y + (used ? used : 1);
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

/* The channels of row's group the current l1 setting removes, by this layer's output channel
 * (the group's units follow its first producer's channels); NULL when none or not mappable. */
static bool *removed_channels(const ui_state *s, int row, double *ratio, int *count)
{
    const ui_row *r = &s->rows[row];
    int g = r->group;
    *ratio = ui_group_ratio(s, g, NULL);
    *count = 0;
    if (g < 0 || *ratio <= 0 || s->groups[g].channels != r->info.out_channels)
        return NULL;
    bool *removed = calloc((size_t)s->groups[g].channels + 1, sizeof *removed);
    if (removed)
        *count = ui_group_removed(&s->groups[g], *ratio, removed);
    return removed;
}

/* Sorted per-channel L1 as horizontal bars, column-major in as many columns as fit; the
 * channels the l1 setting removes are marked. */
static void draw_channels(const ui_state *s, const ui_row *row, const ui_rect *r, int y, int last)
{
    enum { CELL_MIN = 26, VALUE_W = 7 };
    int n = (int)row->info.out_channels, rows = last - y;
    if (rows <= 0 || n <= 0)
        return;
    int ncols = r->w / CELL_MIN > 0 ? r->w / CELL_MIN : 1;
    ncols = ncols < (n + rows - 1) / rows ? ncols : (n + rows - 1) / rows; /* no empty columns */
    int cw = r->w / ncols;
    int first = s->detail_scroll < n ? s->detail_scroll : n - 1;
    int end = first + rows * ncols < n ? first + rows * ncols : n;
    double ratio;
    int k_removed;
    int ri = ui_table_row_index(s, row);
    bool *removed = removed_channels(s, ri, &ratio, &k_removed);
    char cap[256], rt[16];
    int len =
        snprintf(cap, sizeof cap, "channel L1, largest first: %d-%d of %d", first + 1, end, n);
    if (removed)
        len += snprintf(cap + len, sizeof cap - (size_t)len, "; %s %d removed by l1 %s",
                        s->utf8 ? "\u2717" : "x", k_removed, ui_ratio_text(ratio, rt, sizeof rt));
    else if (s->cfg.layer[ri].prune == SB_PRUNE_MAGNITUDE ||
             s->cfg.layer[ri].prune == SB_PRUNE_GLOBAL)
        len += snprintf(cap + len, sizeof cap - (size_t)len, "; magnitude pruning zeroes weights, "
                                                             "not channels");
    if (n > rows * ncols)
        snprintf(cap + len, sizeof cap - (size_t)len, "   ([ ] scroll)");
    ui_draw_str(y++, r->x, r->w, cap, UI_ST_DIM);
    int lw = digits(n) + 3, bw = cw - lw - VALUE_W - 2;
    double top = row->l1_sorted[0] > 0 ? row->l1_sorted[0] : 1;
    int prec = top >= 100 ? 0 : top >= 10 ? 1 : top >= 1 ? 2 : 3; /* same decimals in a pane */
    for (int i = first; i < end; i++) {
        int k = i - first, cy = y + k % rows, cx = r->x + (k / rows) * cw;
        int ch = row->l1_channel[i];
        bool gone = removed && removed[ch];
        char label[32], bar[512], value[32];
        snprintf(label, sizeof label, "c%d%s", ch, gone ? (s->utf8 ? "\u2717" : "x") : "");
        snprintf(value, sizeof value, "%.*f", prec, row->l1_sorted[i]);
        ui_draw_text(cy, cx, lw, label, false, gone ? UI_ST_REMOVED : UI_ST_DIM);
        ui_draw_text(cy, cx + lw, bw,
                     ui_hbar(bar, sizeof bar, row->l1_sorted[i] / top, bw, s->utf8), false,
                     gone ? UI_ST_REMOVED : UI_ST_BAR);
        ui_draw_text(cy, cx + lw + bw + 1, VALUE_W, value, true,
                     gone ? UI_ST_REMOVED : UI_ST_NORMAL);
    }
    free(removed);
}

/* Channel-L1 histograms of the base and the current model on one scale (3 lines). */
static int draw_histogram(const ui_state *s, const ui_row *row, const ui_rect *r, int y)
{
    enum { BINS_MAX = 32, LEFT = 9 };
    int ri = ui_table_row_index(s, row);
    const ui_layer_stats *now = ui_row_now(s, ri);
    int n = (int)row->info.out_channels;
    char cap[160], line[512], hi_txt[16];
    double hi = n ? row->l1_sorted[0] : 0;
    for (int i = 0; now && i < now->out_channels; i++)
        hi = now->l1[i] > hi ? now->l1[i] : hi;
    snprintf(hi_txt, sizeof hi_txt, "%.3g", hi);
    int bins = r->w - LEFT - 16;
    bins = bins > BINS_MAX ? BINS_MAX : bins;
    bins = bins > n / 2 && n / 2 >= 8 ? n / 2 : bins > n && n >= 4 ? n : bins; /* not too sparse */
    if (bins < 4 || n <= 0)
        return y;
    snprintf(cap, sizeof cap,
             "channel-L1 histogram, 0 to %s (raw weights are not in the engine API)", hi_txt);
    ui_draw_str(y++, r->x, r->w, cap, UI_ST_DIM);
    int cb[BINS_MAX], ca[BINS_MAX];
    double levels_b[BINS_MAX], levels_a[BINS_MAX], top = 1;
    ui_histogram(row->l1_sorted, n, 0, hi, bins, cb);
    if (now)
        ui_histogram(now->l1, (int)now->out_channels, 0, hi, bins, ca);
    for (int b = 0; b < bins; b++) {
        levels_b[b] = cb[b];
        levels_a[b] = now ? ca[b] : cb[b];
        top = cb[b] > top ? cb[b] : top;
        top = now && ca[b] > top ? ca[b] : top;
    }
    const struct {
        const char *label;
        const double *lv;
        int count;
    } h[2] = {{"before", levels_b, n}, {"after", levels_a, now ? (int)now->out_channels : n}};
    for (int k = 0; k < 2; k++, y++) {
        ui_draw_text(y, r->x, LEFT, h[k].label, false, UI_ST_DIM);
        ui_draw_str(y, r->x + LEFT, bins + 1, ui_spark_levels(line, sizeof line, h[k].lv, bins,
                                                              top, s->utf8),
                    k ? UI_ST_CHANGED : UI_ST_BAR);
        char note[64];
        snprintf(note, sizeof note, " %d channels%s", h[k].count,
                 k && !now ? " (unchanged)" : "");
        ui_draw_str(y, r->x + LEFT + bins + 1, r->w - LEFT - bins - 1, note, UI_ST_DIM);
    }
    return y;
}

/* The layer's sweep as a column chart: top-1 against the pruning ratio. */
static int draw_sens(const ui_state *s, const ui_row *row, const ui_rect *r, int y, int last)
{
    int ri = ui_table_row_index(s, row);
    const ui_job_report *sw = &s->job[UI_JOB_SWEEP];
    const ui_sens *sn = &row->sens;
    char line[512];
    bool running = (sw->state == UI_JOB_RUNNING || sw->state == UI_JOB_QUEUED) && sw->layer == ri;
    if (running) {
        char bar[256];
        int total = sw->progress.total ? sw->progress.total : UI_SWEEP_MAX;
        int bw = r->w - 52 > 24 ? 24 : r->w - 52;
        snprintf(line, sizeof line, "sensitivity: pruning alone by %s, %d/%d ratios%s",
                 sw->method == SB_PRUNE_L1 ? "l1" : "magnitude", sw->progress.done, total,
                 sw->state == UI_JOB_QUEUED ? " (waiting for the evaluation)" : "");
        int used = ui_draw_str(y, r->x, r->w, line, UI_ST_ESTIMATE);
        if (bw >= 6) {
            ui_hbar(bar, sizeof bar, (double)sw->progress.done / total, bw, s->utf8);
            ui_draw_str(y, r->x + used + 1, 1, "[", UI_ST_DIM);
            ui_draw_str(y, r->x + used + 2, bw, bar, UI_ST_BAR);
            ui_draw_str(y, r->x + used + 2 + bw, 9, "] S stops", UI_ST_DIM);
        }
        y++;
    }
    if (!sn->known) {
        if (!running)
            ui_draw_str(y++, r->x, r->w,
                        sw->state == UI_JOB_FAILED && sw->layer == ri
                            ? sw->error
                            : "sensitivity: press S to prune this layer alone at 0-90% and plot "
                              "top-1",
                        sw->state == UI_JOB_FAILED && sw->layer == ri ? UI_ST_ERROR : UI_ST_DIM);
        return y;
    }
    double lo = 1, hi = 0, at0 = sn->top1[0];
    for (int i = 0; i < sn->n; i++) {
        lo = sn->top1[i] < lo ? sn->top1[i] : lo;
        hi = sn->top1[i] > hi ? sn->top1[i] : hi;
    }
    double floor_v = lo - (hi - lo) * 0.1 > 0 ? lo - (hi - lo) * 0.1 : 0;
    snprintf(line, sizeof line, "sensitivity: top-1 when pruned alone by %s (%d images)",
             sn->method == SB_PRUNE_L1 ? "l1" : "magnitude", sn->images);
    ui_draw_str(y++, r->x, r->w, line, UI_ST_DIM);
    int height = last - y; /* the chart, then the axis line */
    height = height > 8 ? 8 : height;
    if (height < 1)
        return y;
    enum { AXIS_W = 7 };
    int colw = (r->w - AXIS_W) / (sn->n ? sn->n : 1);
    colw = colw > 5 ? 5 : colw < 1 ? 1 : colw;
    for (int k = 0; k < height; k++, y++) {
        char lab[16] = "";
        if (k == 0)
            snprintf(lab, sizeof lab, "%5.1f%%", 100 * hi);
        else if (k == height - 1)
            snprintf(lab, sizeof lab, "%5.1f%%", 100 * floor_v);
        ui_draw_text(y, r->x, AXIS_W, lab, false, UI_ST_DIM);
        ui_draw_str(y, r->x + AXIS_W, r->w - AXIS_W,
                    ui_plot_row(line, sizeof line, sn->top1, sn->n, floor_v, hi, height, k, colw,
                                s->utf8),
                    UI_ST_BAR);
    }
    size_t len = 0;
    line[0] = 0;
    for (int i = 0; i < sn->n && len < sizeof line; i++) {
        char t[16];
        snprintf(t, sizeof t, i == 0 ? "0" : "%.0f", 100 * sn->ratio[i]);
        len += (size_t)snprintf(line + len, sizeof line - len, "%-*s", colw, t);
    }
    ui_draw_text(y, r->x, AXIS_W, "ratio%", false, UI_ST_DIM);
    ui_draw_str(y++, r->x + AXIS_W, r->w - AXIS_W, line, UI_ST_DIM);
    (void)at0;
    return y;
}

/* "16x10x10": the shape per image. */
static char *shape_text(const sb_shape *sh, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    for (int d = sh->rank > 1 && sh->dim[0] == 1; d < sh->rank && len < n; d++)
        len += (size_t)snprintf(buf + len, n - len, "%s%lld", len ? "x" : "",
                                (long long)sh->dim[d]);
    return buf;
}

/* "l1 50% · int8 ch" and the current numbers beside the base's. */
static void setting_text(const ui_state *s, int ri, char *buf, size_t n)
{
    char p[32], q[32], a[16], b[16], c[16], d[16], sa[64], sb[64];
    const ui_row *row = &s->rows[ri];
    const ui_layer_stats *now = ui_row_now(s, ri);
    int len = snprintf(buf, n, "prune %s  quant %s", ui_prune_text(s, ri, p, sizeof p),
                       ui_quant_text(&s->cfg.layer[ri], q, sizeof q));
    if (!now || len < 0 || (size_t)len >= n)
        return;
    const sb_layer_info *in = &row->info;
    snprintf(buf + len, n - (size_t)len,
             "   now %s params (base %s), %s MACs (%s), output %s (%s)",
             ui_fmt_count(a, sizeof a, now->params), ui_fmt_count(b, sizeof b, in->params),
             ui_fmt_count(c, sizeof c, now->macs), ui_fmt_count(d, sizeof d, in->macs),
             ui_table_cell(s, row, UI_COL_SHAPE, 0, sa, sizeof sa),
             shape_text(&in->out_shape, sb, sizeof sb));
}

/* The channel group: who shrinks with it, or why it cannot be pruned. */
static void group_text(const ui_state *s, int ri, char *buf, size_t n)
{
    int g = s->rows[ri].group;
    const char *why = ui_row_why_not_l1(s, ri);
    if (g < 0) {
        snprintf(buf, n, "none: l1 cannot remove these output channels (%s)", why);
        return;
    }
    const ui_group *gr = &s->groups[g];
    int len = snprintf(buf, n, "%d channels, %s", gr->channels,
                       gr->prunable ? "prunable: l1 removes channels from" : "not prunable: ");
    if (!gr->prunable) {
        snprintf(buf + len, n - (size_t)len, "%s (use magnitude or global)", why);
        return;
    }
    for (int pass = 0; pass < 2; pass++) { /* producers (outputs), then consumers (inputs) */
        bool any = false;
        for (int i = 0; i < gr->n_members && len > 0 && (size_t)len < n; i++) {
            int m = gr->members[i];
            bool producer = m >= 0 && m < s->n_rows && s->rows[m].group == g;
            if (producer != (pass == 0) || m < 0 || m >= s->n_rows)
                continue;
            len += snprintf(buf + len, n - (size_t)len, "%s%s",
                            any ? ", " : pass == 0 ? " the outputs of " : " and the inputs of ",
                            s->rows[m].info.name);
            any = true;
        }
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
    int ri = ui_table_row_index(s, row);
    const ui_layer_stats *now = ui_row_now(s, ri);
    char title[256], l1[128], text[1024];
    int len = snprintf(title, sizeof title, "%s: %s, %lld output channels", in->name, in->op,
                       (long long)in->out_channels);
    if (now && now->out_channels != in->out_channels)
        snprintf(title + len, sizeof title - (size_t)len, " (now %lld)",
                 (long long)now->out_channels);
    ui_draw_rule(r->y, r->x, r->w, title);
    int y = r->y + 1, last = r->y + r->h - 1; /* last usable line */
    setting_text(s, ri, text, sizeof text);
    y = draw_wrapped(r, y, r->w >= 100 ? 1 : 2, "setting", text, UI_ST_NORMAL);
    if (y <= last)
        y = draw_wrapped(r, y, r->w >= 130 ? 1 : last - y >= 12 ? 3 : 2, "speed",
                         ui_row_speed_text(s, ri, text, sizeof text), UI_ST_NORMAL);
    group_text(s, ri, text, sizeof text);
    if (y <= last)
        y = draw_wrapped(r, y, last - y >= 8 ? 3 : 2, "group", text,
                         ui_row_why_not_l1(s, ri) ? UI_ST_DIM : UI_ST_NORMAL);
    snprintf(l1, sizeof l1, "min %.3g  median %.3g  max %.3g", in->l1_min, in->l1_median,
             in->l1_max);
    const info_pair info[] = {
        {"node", in->node_name ? in->node_name : "-"},
        {"weight", in->weight_name ? in->weight_name : "-"},
        {"folded", in->bn_name ? in->bn_name : "no BatchNormalization"},
        {"L1", l1},
    };
    int room = last - y + 1, per = r->w >= 80 ? 2 : 1, info_h = (4 + per - 1) / per;
    bool all = room >= info_h + 3 + 11 + 6; /* everything stacked: info, histogram, sens, bars */
    if (all || room >= info_h + 8)
        y = draw_info(info, 4, r, y, last);
    if (all) {
        y = draw_histogram(s, row, r, y) + 0;
        y = draw_sens(s, row, r, y, y + 10 < last - 5 ? y + 10 : last - 5);
        draw_channels(s, row, r, y, last);
        return;
    }
    switch (s->panel) {
    case UI_PANEL_HISTOGRAM: draw_histogram(s, row, r, y); break;
    case UI_PANEL_SENS: draw_sens(s, row, r, y, last); break;
    default: draw_channels(s, row, r, y, last); break;
    }
}
