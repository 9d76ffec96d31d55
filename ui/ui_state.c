#include "ui_state.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static bool copy_config(sb_config *dst, const sb_config *src)
{
    sb_error err = {0};
    return sb_config_copy(src, dst, &err) == SB_OK;
}

void ui_state_init(ui_state *s)
{
    memset(s, 0, sizeof *s);
    s->page = 1;
    for (int k = 0; k < UI_JOB_COUNT; k++)
        s->job[k] = s->base[k] = s->last[k] =
            (ui_job_report){.kind = (ui_job_kind)k, .state = UI_JOB_IDLE};
}

void ui_state_message(ui_state *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->message, sizeof s->message, fmt, ap);
    va_end(ap);
    s->message_error = false;
}

void ui_state_error(ui_state *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->message, sizeof s->message, fmt, ap);
    va_end(ap);
    s->message_error = true;
}

typedef struct channel_l1 {
    double v;
    int ch;
} channel_l1;

static int cmp_channel(const void *a, const void *b)
{
    const channel_l1 *x = a, *y = b;
    if (x->v != y->v)
        return x->v < y->v ? 1 : -1;
    return (x->ch > y->ch) - (x->ch < y->ch);
}

static bool sort_channels(ui_row *r, const double *l1)
{
    int n = (int)r->info.out_channels;
    channel_l1 *tmp = calloc((size_t)n + 1, sizeof *tmp);
    r->l1_sorted = calloc((size_t)n + 1, sizeof *r->l1_sorted);
    r->l1_channel = calloc((size_t)n + 1, sizeof *r->l1_channel);
    if (!tmp || !r->l1_sorted || !r->l1_channel) {
        free(tmp);
        return false;
    }
    for (int c = 0; l1 && c < n; c++)
        tmp[c] = (channel_l1){l1[c], c};
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_channel);
    for (int c = 0; c < n; c++) {
        r->l1_sorted[c] = tmp[c].v;
        r->l1_channel[c] = tmp[c].ch;
    }
    free(tmp);
    return true;
}

bool ui_state_set_layers(ui_state *s, const sb_layer_info *infos, const double *const *l1, int n)
{
    s->rows = calloc((size_t)n + 1, sizeof *s->rows);
    s->order = calloc((size_t)n + 1, sizeof *s->order);
    s->marked = calloc((size_t)n + 1, sizeof *s->marked);
    s->cfg.layer = calloc((size_t)n + 1, sizeof *s->cfg.layer);
    if (!s->rows || !s->order || !s->marked || !s->cfg.layer)
        return false;
    s->n_rows = s->cfg.n_layers = n;
    for (int i = 0; i < n; i++)
        s->cfg.layer[i] = SB_LAYER_DEFAULT;
    s->cfg.calib_images = 512; /* as sb_config_new: a Config the engine would accept */
    s->cfg.percentile = 99.99;
    if (!copy_config(&s->saved, &s->cfg))
        return false;
    for (int i = 0; i < n; i++) {
        s->rows[i].info = infos[i];
        s->rows[i].group = -1;
        s->order[i] = i;
        if (!sort_channels(&s->rows[i], l1 ? l1[i] : NULL))
            return false;
    }
    return true;
}

bool ui_state_load(ui_state *s, sb_model *m)
{
    sb_error err = {0};
    int n = sb_model_num_layers(m);
    sb_layer_info *infos = calloc((size_t)n + 1, sizeof *infos);
    const double **l1 = calloc((size_t)n + 1, sizeof *l1);
    bool ok = infos && l1;
    for (int i = 0; ok && i < n; i++) {
        ok = sb_model_layer(m, i, &infos[i]) == SB_OK;
        l1[i] = sb_model_layer_l1(m, i);
    }
    s->model_path = sb_model_path(m);
    s->totals = sb_model_totals_get(m);
    s->base_size = sb_model_size(m);
    ok = ok && ui_state_set_layers(s, infos, l1, n);
    for (int i = 0; ok && i < n; i++) {
        const char *k = sb_model_layer_kernel(m, i);
        snprintf(s->rows[i].kernel, sizeof s->rows[i].kernel, "%s", k ? k : "");
    }
    if (ok) { /* the engine's defaults for the global settings too */
        sb_config_free(&s->cfg);
        sb_config_free(&s->saved);
        ok = !sb_config_new(m, &s->cfg, &err) && copy_config(&s->saved, &s->cfg);
    }
    int ng = sb_model_num_groups(m);
    ui_group *groups = calloc((size_t)ng + 1, sizeof *groups);
    int *group_of = calloc((size_t)n + 1, sizeof *group_of);
    ok = ok && groups && group_of;
    for (int g = 0; ok && g < ng; g++) {
        sb_group_info gi;
        ok = sb_model_group(m, g, &gi) == SB_OK;
        groups[g] = (ui_group){.channels = gi.channels,
                               .n_members = gi.n_members,
                               .members = gi.members,
                               .prunable = gi.prunable,
                               .why_not = gi.why_not,
                               .importance = sb_model_group_importance(m, g)};
    }
    for (int i = 0; ok && i < n; i++)
        group_of[i] = sb_model_layer_group(m, i);
    ok = ok && ui_state_set_groups(s, groups, ng, group_of);
    free(groups);
    free(group_of);
    free(infos);
    free(l1);
    return ok;
}

bool ui_state_set_groups(ui_state *s, const ui_group *groups, int n, const int *group_of_layer)
{
    free(s->groups);
    s->groups = calloc((size_t)n + 1, sizeof *s->groups);
    if (!s->groups)
        return false;
    if (n)
        memcpy(s->groups, groups, (size_t)n * sizeof *groups);
    s->n_groups = n;
    for (int i = 0; i < s->n_rows; i++)
        s->rows[i].group = group_of_layer[i] >= 0 && group_of_layer[i] < n ? group_of_layer[i] : -1;
    return true;
}

ui_model_stats *ui_model_stats_new(sb_model *m, uint64_t generation)
{
    ui_model_stats *st = calloc(1, sizeof *st);
    int n = sb_model_num_layers(m);
    if (!st || !(st->layer = calloc((size_t)n + 1, sizeof *st->layer))) {
        free(st);
        return NULL;
    }
    st->generation = generation;
    st->size = sb_model_size(m);
    st->n_layers = n;
    for (int i = 0; i < n; i++) {
        sb_layer_info in;
        ui_layer_stats *ls = &st->layer[i];
        if (sb_model_layer(m, i, &in) != SB_OK)
            continue;
        *ls = (ui_layer_stats){.out_shape = in.out_shape,
                               .params = in.params,
                               .macs = in.macs,
                               .zeros = in.zeros,
                               .out_channels = in.out_channels};
        const char *k = sb_model_layer_kernel(m, i);
        snprintf(ls->kernel, sizeof ls->kernel, "%s", k ? k : "");
        const double *l1 = sb_model_layer_l1(m, i);
        ls->l1 = calloc((size_t)in.out_channels + 1, sizeof *ls->l1);
        if (!ls->l1) {
            ui_model_stats_free(st);
            return NULL;
        }
        if (l1 && in.out_channels)
            memcpy(ls->l1, l1, (size_t)in.out_channels * sizeof *l1);
    }
    return st;
}

void ui_model_stats_free(ui_model_stats *st)
{
    if (!st)
        return;
    for (int i = 0; i < st->n_layers; i++)
        free(st->layer[i].l1);
    free(st->layer);
    free(st);
}

static void history_clear(ui_history *h)
{
    for (int i = 0; i < h->n; i++) {
        sb_config_free(&h->items[i]);
        ui_weights_unref(h->weights[i]);
    }
    free(h->items);
    free(h->weights);
    *h = (ui_history){0};
}

ui_weights *ui_weights_new(sb_model *m, const char *note)
{
    ui_weights *w = calloc(1, sizeof *w);
    if (!w) {
        sb_model_free(m);
        return NULL;
    }
    w->refs = 1;
    w->model = m;
    snprintf(w->note, sizeof w->note, "%s", note ? note : "");
    return w;
}

ui_weights *ui_weights_ref(ui_weights *w)
{
    if (w)
        __atomic_add_fetch(&w->refs, 1, __ATOMIC_RELAXED);
    return w;
}

void ui_weights_unref(ui_weights *w)
{
    if (w && __atomic_sub_fetch(&w->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        sb_model_free(w->model);
        free(w);
    }
}

void ui_state_free(ui_state *s)
{
    for (int i = 0; s->rows && i < s->n_rows; i++) {
        free(s->rows[i].l1_sorted);
        free(s->rows[i].l1_channel);
    }
    free(s->rows);
    free(s->order);
    free(s->marked);
    free(s->groups);
    ui_model_stats_free(s->stats);
    ui_layer_times_free(s->times);
    ui_layer_times_free(s->base_times);
    sb_config_free(&s->cfg);
    sb_config_free(&s->saved);
    history_clear(&s->undo);
    history_clear(&s->redo);
    ui_weights_unref(s->weights);
    memset(s, 0, sizeof *s);
}

/* ---- navigation ---- */

const ui_row *ui_table_selected(const ui_state *s)
{
    return s->n_rows ? &s->rows[s->order[s->sel]] : NULL;
}

int ui_table_row_index(const ui_state *s, const ui_row *r) { return (int)(r - s->rows); }

int ui_table_position(const ui_state *s, int row)
{
    for (int p = 0; p < s->n_rows; p++)
        if (s->order[p] == row)
            return p;
    return -1;
}

void ui_table_scroll(ui_state *s)
{
    int page = s->page > 0 ? s->page : 1;
    s->sel = clampi(s->sel, 0, s->n_rows > 0 ? s->n_rows - 1 : 0);
    if (s->sel < s->top)
        s->top = s->sel;
    if (s->sel >= s->top + page)
        s->top = s->sel - page + 1;
    s->top = clampi(s->top, 0, s->n_rows > page ? s->n_rows - page : 0);
}

void ui_table_set_page(ui_state *s, int rows)
{
    s->page = rows > 0 ? rows : 1;
    ui_table_scroll(s);
}

void ui_table_move_to(ui_state *s, int pos)
{
    int before = s->sel;
    s->sel = pos;
    ui_table_scroll(s);
    if (s->sel != before)
        s->detail_scroll = 0;
}

void ui_table_move(ui_state *s, int delta) { ui_table_move_to(s, s->sel + delta); }

void ui_table_page(ui_state *s, int dir)
{
    s->top += dir * s->page;
    ui_table_move(s, dir * s->page);
}

bool ui_table_click(ui_state *s, int body_row)
{
    int pos = s->top + body_row;
    if (body_row < 0 || pos >= s->n_rows)
        return false;
    ui_table_move_to(s, pos);
    return true;
}

const char *ui_sort_name(ui_sort k)
{
    static const char *const names[UI_SORT_COUNT] = {[UI_SORT_ORDER] = "order",
                                                     [UI_SORT_MACS] = "MACs",
                                                     [UI_SORT_PARAMS] = "params",
                                                     [UI_SORT_NAME] = "name",
                                                     [UI_SORT_TIME] = "time"};
    return k >= 0 && k < UI_SORT_COUNT ? names[k] : "?";
}

static int cmp64_desc(int64_t a, int64_t b) { return (a < b) - (a > b); }
static int cmp_double_desc(double a, double b) { return (a < b) - (a > b); }

/* The time a table sorted by time orders row by: the current (or stale) measurement, else the
 * base model's; -1 (last) when neither is known. */
static double sort_time(const ui_state *s, int row)
{
    double ms = 0;
    ui_measure m = ui_row_time(s, row, &ms);
    if (m == UI_MEASURE_CURRENT || m == UI_MEASURE_STALE)
        return ms;
    ms = ui_row_base_time(s, row);
    return ms > 0 ? ms : -1;
}

static int cmp_rows(const void *a, const void *b, void *arg)
{
    const ui_state *s = arg;
    int i = *(const int *)a, j = *(const int *)b, c = 0;
    const sb_layer_info *x = &s->rows[i].info, *y = &s->rows[j].info;
    switch (s->sort) {
    case UI_SORT_MACS: c = cmp64_desc(x->macs, y->macs); break;
    case UI_SORT_PARAMS: c = cmp64_desc(x->params, y->params); break;
    case UI_SORT_NAME: c = strverscmp(x->name, y->name); break; /* layer2 before layer10 */
    case UI_SORT_TIME: c = cmp_double_desc(sort_time(s, i), sort_time(s, j)); break;
    default: break;
    }
    return c ? c : (i > j) - (i < j);
}

void ui_table_sort(ui_state *s, ui_sort k)
{
    if (!s->n_rows) {
        s->sort = k;
        return;
    }
    int keep = s->order[s->sel];
    s->sort = k;
    qsort_r(s->order, (size_t)s->n_rows, sizeof *s->order, cmp_rows, s);
    for (int p = 0; p < s->n_rows; p++)
        if (s->order[p] == keep)
            s->sel = p;
    ui_table_scroll(s);
}

void ui_table_mark(ui_state *s)
{
    if (!s->n_rows)
        return;
    int r = s->order[s->sel];
    s->marked[r] = !s->marked[r];
    s->n_marked += s->marked[r] ? 1 : -1;
    ui_table_move(s, 1);
}

/* ---- visual ranges and edit targets ---- */

void ui_visual_begin(ui_state *s)
{
    if (!s->n_rows)
        return;
    s->visual = true;
    s->visual_row = s->order[s->sel];
}

bool ui_visual_contains(const ui_state *s, int row)
{
    if (!s->visual)
        return false;
    int a = ui_table_position(s, s->visual_row), p = ui_table_position(s, row);
    int lo = a < s->sel ? a : s->sel, hi = a < s->sel ? s->sel : a;
    return p >= lo && p <= hi;
}

void ui_visual_mark(ui_state *s)
{
    for (int r = 0; r < s->n_rows; r++)
        if (ui_visual_contains(s, r) && !s->marked[r]) {
            s->marked[r] = true;
            s->n_marked++;
        }
    s->visual = false;
}

void ui_visual_cancel(ui_state *s) { s->visual = false; }

int ui_edit_targets(const ui_state *s, int *rows)
{
    int n = 0;
    for (int r = 0; r < s->n_rows; r++)
        if (s->visual ? ui_visual_contains(s, r) : s->n_marked && s->marked[r])
            rows[n++] = r;
    if (!n && s->n_rows)
        rows[n++] = s->order[s->sel];
    return n;
}

/* ---- search ---- */

static bool row_matches(const ui_row *r, const char *q)
{
    return strcasestr(r->info.name, q) || (r->info.node_name && strcasestr(r->info.node_name, q));
}

/* First matching position from start in direction dir, wrapping; -1 if none. */
static int find_from(const ui_state *s, int start, int dir)
{
    for (int k = 0; k < s->n_rows; k++) {
        int pos = ((start + dir * k) % s->n_rows + s->n_rows) % s->n_rows;
        if (row_matches(&s->rows[s->order[pos]], s->query))
            return pos;
    }
    return -1;
}

static void research(ui_state *s)
{
    int pos = s->query_len ? find_from(s, s->search_origin, 1) : s->search_origin;
    s->search_failed = pos < 0;
    if (pos >= 0)
        ui_table_move_to(s, pos);
}

void ui_search_begin(ui_state *s)
{
    s->input = UI_INPUT_SEARCH;
    memcpy(s->last_query, s->query, sizeof s->query);
    s->query[0] = 0;
    s->query_len = 0;
    s->search_origin = s->sel;
    s->search_failed = false;
}

void ui_search_type(ui_state *s, int ch)
{
    if (ch < 32 || ch > 126 || s->query_len >= UI_QUERY_MAX - 1)
        return;
    s->query[s->query_len++] = (char)ch;
    s->query[s->query_len] = 0;
    research(s);
}

void ui_search_erase(ui_state *s)
{
    if (s->query_len > 0)
        s->query[--s->query_len] = 0;
    research(s);
}

void ui_search_accept(ui_state *s)
{
    s->input = UI_INPUT_NORMAL;
    if (s->search_failed)
        ui_state_message(s, "no layer matches \"%s\"", s->query);
}

void ui_search_cancel(ui_state *s)
{
    s->input = UI_INPUT_NORMAL;
    s->search_failed = false;
    memcpy(s->query, s->last_query, sizeof s->query);
    s->query_len = (int)strlen(s->query);
    ui_table_move_to(s, s->search_origin);
}

bool ui_search_next(ui_state *s, int dir)
{
    if (!s->query_len || !s->n_rows)
        return false;
    int pos = find_from(s, s->sel + dir, dir);
    s->search_failed = pos < 0;
    if (pos >= 0)
        ui_table_move_to(s, pos);
    return pos >= 0;
}

void ui_detail_scroll(ui_state *s, int delta)
{
    const ui_row *r = ui_table_selected(s);
    int n = r ? (int)r->info.out_channels : 0;
    s->detail_scroll = clampi(s->detail_scroll + delta, 0, n > 0 ? n - 1 : 0);
}

/* ---- editing ---- */

/* Takes c and the reference w on success. */
static bool history_push(ui_history *h, sb_config c, ui_weights *w)
{
    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 16;
        sb_config *items = realloc(h->items, (size_t)cap * sizeof *items);
        if (!items)
            return false;
        h->items = items;
        ui_weights **ws = realloc(h->weights, (size_t)cap * sizeof *ws);
        if (!ws)
            return false;
        h->weights = ws;
        h->cap = cap;
    }
    h->weights[h->n] = w;
    h->items[h->n++] = c;
    return true;
}

static void changed(ui_state *s)
{
    s->generation++;
    static const ui_job_kind per_model[] = {UI_JOB_EVAL, UI_JOB_LATENCY, UI_JOB_LAYERS};
    for (size_t i = 0; i < sizeof per_model / sizeof per_model[0]; i++)
        s->job[per_model[i]] =
            (ui_job_report){.kind = per_model[i], .generation = s->generation};
}

bool ui_state_edit(ui_state *s, const sb_config *next)
{
    sb_config copy;
    if (!copy_config(&copy, next))
        return false;
    if (!history_push(&s->undo, s->cfg, s->weights)) {
        sb_config_free(&copy);
        return false;
    }
    s->cfg = copy;
    s->weights = NULL; /* an edit starts again from the original weights */
    history_clear(&s->redo);
    changed(s);
    return true;
}

bool ui_state_finetuned(ui_state *s, ui_weights *w)
{
    sb_config copy = {0};
    if (!copy_config(&copy, &s->cfg) || !history_push(&s->undo, copy, s->weights)) {
        sb_config_free(&copy);
        ui_weights_unref(w);
        return false;
    }
    s->weights = w;
    history_clear(&s->redo);
    changed(s);
    return true;
}

bool ui_state_left_finetuned(const ui_state *s)
{
    return !s->weights && s->undo.n && s->undo.weights[s->undo.n - 1];
}

bool ui_state_training(const ui_state *s)
{
    ui_job_state t = s->job[UI_JOB_TRAIN].state;
    return t == UI_JOB_QUEUED || t == UI_JOB_RUNNING;
}

/* Moves the current entry onto to and the top of from into its place. */
static bool step(ui_state *s, ui_history *from, ui_history *to)
{
    if (!from->n || !history_push(to, s->cfg, s->weights))
        return false;
    from->n--;
    s->cfg = from->items[from->n];
    s->weights = from->weights[from->n];
    changed(s);
    return true;
}

bool ui_state_undo(ui_state *s) { return step(s, &s->undo, &s->redo); }
bool ui_state_redo(ui_state *s) { return step(s, &s->redo, &s->undo); }
bool ui_state_has_unsaved(const ui_state *s) { return !sb_config_equal(&s->cfg, &s->saved); }

void ui_state_mark_saved(ui_state *s)
{
    sb_config copy;
    if (!copy_config(&copy, &s->cfg))
        return;
    sb_config_free(&s->saved);
    s->saved = copy;
}

bool ui_state_is_base(const ui_state *s)
{
    if (s->weights)
        return false;
    for (int i = 0; i < s->cfg.n_layers; i++)
        if (!sb_layer_config_is_default(&s->cfg.layer[i]))
            return false;
    return true;
}

void ui_default_path(const ui_state *s, const char *suffix, char *buf, size_t n)
{
    const char *path = s->model_path ? s->model_path : "model.onnx";
    size_t len = strlen(path);
    if (len > 5 && strcmp(path + len - 5, ".onnx") == 0)
        len -= 5;
    snprintf(buf, n, "%.*s%s", (int)len, path, suffix);
}

/* ---- the line prompt ---- */

void ui_prompt_begin(ui_state *s, int kind, const char *label, const char *text)
{
    s->input = UI_INPUT_PROMPT;
    s->prompt = (ui_prompt){.kind = kind};
    snprintf(s->prompt.label, sizeof s->prompt.label, "%s", label);
    snprintf(s->prompt.text, sizeof s->prompt.text, "%s", text ? text : "");
    s->prompt.len = (int)strlen(s->prompt.text);
}

void ui_prompt_type(ui_state *s, int ch)
{
    if (ch < 32 || ch > 126 || s->prompt.len >= (int)sizeof s->prompt.text - 1)
        return;
    s->prompt.text[s->prompt.len++] = (char)ch;
    s->prompt.text[s->prompt.len] = 0;
}

void ui_prompt_erase(ui_state *s)
{
    if (s->prompt.len > 0)
        s->prompt.text[--s->prompt.len] = 0;
}

void ui_prompt_clear(ui_state *s)
{
    s->prompt.len = 0;
    s->prompt.text[0] = 0;
}

void ui_prompt_cancel(ui_state *s)
{
    s->input = UI_INPUT_NORMAL;
    s->prompt.kind = UI_PROMPT_NONE;
}

bool ui_parse_ratio(ui_state *s, const char *text, double max, double *out)
{
    char *end;
    while (*text == ' ')
        text++;
    double v = strtod(text, &end);
    bool pct = false;
    while (*end == ' ')
        end++;
    if (*end == '%') {
        pct = true;
        end++;
    }
    while (*end == ' ')
        end++;
    if (end == text || *end || v != v) {
        ui_state_error(s, "'%s' is not a ratio (type 0.5 or 50%%)", text);
        return false;
    }
    v = pct || v > 1 ? v / 100 : v; /* "50" means 50% */
    if (v < 0 || v > max + 1e-12) {
        ui_state_error(s, "ratio %g is outside 0..%g", v, max);
        return false;
    }
    *out = nearbyint(v * 10000) / 10000;
    return true;
}

/* ---- structured pruning: which channels go ---- */

double ui_group_ratio(const ui_state *s, int group, int *by_row)
{
    double ratio = 0;
    if (by_row)
        *by_row = -1;
    for (int r = 0; group >= 0 && r < s->n_rows && r < s->cfg.n_layers; r++)
        if (s->rows[r].group == group && s->cfg.layer[r].prune == SB_PRUNE_L1 &&
            s->cfg.layer[r].ratio > ratio) {
            ratio = s->cfg.layer[r].ratio;
            if (by_row)
                *by_row = r;
        }
    return ratio;
}

typedef struct unit_rank {
    double v;
    int unit;
} unit_rank;

static int cmp_unit(const void *a, const void *b)
{
    const unit_rank *x = a, *y = b;
    if (x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return x->unit - y->unit;
}

int ui_group_removed(const ui_group *g, double ratio, bool *removed)
{
    int n = g->channels;
    memset(removed, 0, (size_t)(n > 0 ? n : 0) * sizeof *removed);
    if (n <= 0 || ratio <= 0 || !g->importance)
        return 0;
    unit_rank *r = malloc((size_t)n * sizeof *r);
    if (!r)
        return 0;
    for (int u = 0; u < n; u++)
        r[u] = (unit_rank){g->importance[u], u};
    qsort(r, (size_t)n, sizeof *r, cmp_unit);
    int k = (int)nearbyint(ratio * n); /* half to even, as the engine rounds */
    k = k > n - 1 ? n - 1 : k < 0 ? 0 : k;
    for (int i = 0; i < k; i++)
        removed[r[i].unit] = true;
    free(r);
    return k;
}

const char *ui_row_why_not_l1(const ui_state *s, int row)
{
    int g = row >= 0 && row < s->n_rows ? s->rows[row].group : -1;
    if (g < 0)
        return "they are not part of a channel group";
    if (!s->groups[g].prunable)
        return s->groups[g].why_not ? s->groups[g].why_not : "the group cannot be pruned";
    return NULL;
}

/* ---- jobs ---- */

static bool is_result(ui_job_kind k)
{
    return k == UI_JOB_EVAL || k == UI_JOB_LATENCY || k == UI_JOB_LAYERS;
}

static void take_sweep(ui_state *s, const ui_job_report *r)
{
    s->job[UI_JOB_SWEEP] = *r;
    if (r->state != UI_JOB_DONE || r->layer < 0 || r->layer >= s->n_rows)
        return;
    ui_sens *sens = &s->rows[r->layer].sens;
    *sens = (ui_sens){.known = true, .method = r->method};
    for (int i = 0; i < r->n_points && i < UI_SWEEP_MAX; i++) {
        const sb_sweep_point *p = &r->points[i];
        sens->ratio[sens->n] = p->ratio;
        sens->top1[sens->n++] = p->images ? (double)p->correct1 / p->images : 0;
        sens->images = p->images;
    }
}

ui_job_kind ui_state_on_report(ui_state *s, const ui_job_report *r, uint64_t *gen)
{
    *gen = r->generation;
    if (r->kind < 0 || r->kind >= UI_JOB_COUNT)
        return UI_JOB_NONE;
    if (r->kind == UI_JOB_SWEEP) {
        if (r->generation == s->sweep_id)
            take_sweep(s, r);
        return UI_JOB_NONE;
    }
    if (r->kind == UI_JOB_TRAIN) {
        if (s->job[UI_JOB_TRAIN].state == UI_JOB_CANCELLED && r->state != UI_JOB_QUEUED)
            return UI_JOB_NONE; /* cancelled here: whatever the worker still says is moot */
        s->job[UI_JOB_TRAIN] = *r;
        if (r->state == UI_JOB_FAILED)
            ui_state_error(s, "fine-tuning failed: %s", r->error);
        else if (r->state == UI_JOB_CANCELLED)
            ui_state_message(s, "fine-tuning cancelled: the model is as it was");
        return UI_JOB_NONE;
    }
    if (r->kind == UI_JOB_FILE) {
        s->job[UI_JOB_FILE] = *r;
        if (r->state == UI_JOB_DONE && r->op == UI_FILE_EXPORT_ONNX && s->weights &&
            r->generation == s->generation)
            s->weights->exported = true;
        if (r->state == UI_JOB_DONE)
            ui_state_message(s, "%s", r->error);
        else if (r->state == UI_JOB_FAILED)
            ui_state_error(s, "%s", r->error);
        return UI_JOB_NONE;
    }
    ui_job_report *slot;
    if (r->generation == 0)
        slot = &s->base[r->kind];
    else if (r->generation == s->generation)
        slot = &s->job[r->kind];
    else
        return UI_JOB_NONE; /* stale */
    *slot = *r;
    if (r->generation && r->state == UI_JOB_DONE)
        s->last[r->kind] = *r;
    if (r->generation && r->kind == UI_JOB_EVAL && r->state == UI_JOB_FAILED)
        ui_state_error(s, "%s", r->error); /* the previous results stay on screen */
    if (r->kind == UI_JOB_LAYERS && r->state == UI_JOB_FAILED)
        ui_state_error(s, "per-layer times: %s", r->error);
    /* accuracy settles, then latency, then the per-layer times: one job at a time */
    ui_job_kind next = r->kind == UI_JOB_EVAL      ? UI_JOB_LATENCY
                       : r->kind == UI_JOB_LATENCY ? UI_JOB_LAYERS
                                                   : UI_JOB_NONE;
    if (next == UI_JOB_NONE || r->state != UI_JOB_DONE)
        return UI_JOB_NONE;
    const ui_job_report *after = r->generation ? &s->job[next] : &s->base[next];
    return after->state == UI_JOB_IDLE ? next : UI_JOB_NONE;
}

void ui_state_job_queued(ui_state *s, ui_job_kind k, uint64_t gen)
{
    if (k < 0 || k >= UI_JOB_COUNT)
        return;
    ui_job_report q = {.kind = k, .state = UI_JOB_QUEUED, .generation = gen};
    if (!is_result(k))
        s->job[k] = q;
    else if (gen == 0)
        s->base[k] = q;
    else if (gen == s->generation)
        s->job[k] = q;
}

void ui_state_set_stats(ui_state *s, ui_model_stats *st)
{
    if (!st)
        return;
    if (s->stats && s->stats->generation > st->generation) {
        ui_model_stats_free(st);
        return;
    }
    ui_model_stats_free(s->stats);
    s->stats = st;
}

const ui_layer_stats *ui_row_now(const ui_state *s, int row)
{
    if (ui_state_is_base(s) || !s->stats || row < 0 || row >= s->stats->n_layers)
        return NULL;
    return &s->stats->layer[row];
}

sb_size_info ui_state_size_now(const ui_state *s)
{
    return ui_state_is_base(s) || !s->stats ? s->base_size : s->stats->size;
}
