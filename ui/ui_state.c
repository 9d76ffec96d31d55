#include "ui_state.h"

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
        s->job[k] = s->base[k] = (ui_job_report){.kind = (ui_job_kind)k, .state = UI_JOB_IDLE};
}

void ui_state_message(ui_state *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->message, sizeof s->message, fmt, ap);
    va_end(ap);
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
    if (!copy_config(&s->saved, &s->cfg))
        return false;
    for (int i = 0; i < n; i++) {
        s->rows[i].info = infos[i];
        s->order[i] = i;
        if (!sort_channels(&s->rows[i], l1 ? l1[i] : NULL))
            return false;
    }
    return true;
}

bool ui_state_load(ui_state *s, const sb_model *m)
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
    ok = ok && ui_state_set_layers(s, infos, l1, n);
    if (ok) { /* the engine's defaults for the global settings too */
        sb_config_free(&s->cfg);
        sb_config_free(&s->saved);
        ok = !sb_config_new(m, &s->cfg, &err) && copy_config(&s->saved, &s->cfg);
    }
    free(infos);
    free(l1);
    return ok;
}

static void history_clear(ui_history *h)
{
    for (int i = 0; i < h->n; i++)
        sb_config_free(&h->items[i]);
    free(h->items);
    *h = (ui_history){0};
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
    sb_config_free(&s->cfg);
    sb_config_free(&s->saved);
    history_clear(&s->undo);
    history_clear(&s->redo);
    memset(s, 0, sizeof *s);
}

/* ---- navigation ---- */

const ui_row *ui_table_selected(const ui_state *s)
{
    return s->n_rows ? &s->rows[s->order[s->sel]] : NULL;
}

int ui_table_row_index(const ui_state *s, const ui_row *r) { return (int)(r - s->rows); }

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
                                                     [UI_SORT_NAME] = "name"};
    return k >= 0 && k < UI_SORT_COUNT ? names[k] : "?";
}

static int cmp64_desc(int64_t a, int64_t b) { return (a < b) - (a > b); }

static int cmp_rows(const void *a, const void *b, void *arg)
{
    const ui_state *s = arg;
    int i = *(const int *)a, j = *(const int *)b, c = 0;
    const sb_layer_info *x = &s->rows[i].info, *y = &s->rows[j].info;
    switch (s->sort) {
    case UI_SORT_MACS: c = cmp64_desc(x->macs, y->macs); break;
    case UI_SORT_PARAMS: c = cmp64_desc(x->params, y->params); break;
    case UI_SORT_NAME: c = strverscmp(x->name, y->name); break; /* layer2 before layer10 */
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

static bool history_push(ui_history *h, sb_config c)
{
    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 16;
        sb_config *items = realloc(h->items, (size_t)cap * sizeof *items);
        if (!items)
            return false;
        h->items = items;
        h->cap = cap;
    }
    h->items[h->n++] = c;
    return true;
}

static void changed(ui_state *s)
{
    s->generation++;
    for (int k = 0; k < UI_JOB_COUNT; k++)
        s->job[k] = (ui_job_report){.kind = (ui_job_kind)k, .generation = s->generation};
}

bool ui_state_edit(ui_state *s, const sb_config *next)
{
    sb_config copy;
    if (!copy_config(&copy, next))
        return false;
    if (!history_push(&s->undo, s->cfg)) {
        sb_config_free(&copy);
        return false;
    }
    s->cfg = copy;
    history_clear(&s->redo);
    changed(s);
    return true;
}

/* Moves the current config onto to and the top of from into its place. */
static bool step(ui_state *s, ui_history *from, ui_history *to)
{
    if (!from->n || !history_push(to, s->cfg))
        return false;
    s->cfg = from->items[--from->n];
    changed(s);
    return true;
}

bool ui_state_undo(ui_state *s) { return step(s, &s->undo, &s->redo); }
bool ui_state_redo(ui_state *s) { return step(s, &s->redo, &s->undo); }
bool ui_state_has_unsaved(const ui_state *s) { return !sb_config_equal(&s->cfg, &s->saved); }

/* ---- jobs ---- */

ui_job_kind ui_state_on_report(ui_state *s, const ui_job_report *r)
{
    if (r->generation != s->generation || r->kind < 0 || r->kind >= UI_JOB_COUNT)
        return UI_JOB_NONE;
    s->job[r->kind] = *r;
    if (r->generation == 0)
        s->base[r->kind] = *r;
    bool settled = r->kind == UI_JOB_EVAL && r->state == UI_JOB_DONE;
    return settled && s->job[UI_JOB_LATENCY].state == UI_JOB_IDLE ? UI_JOB_LATENCY : UI_JOB_NONE;
}

void ui_state_job_queued(ui_state *s, ui_job_kind k)
{
    if (k < 0 || k >= UI_JOB_COUNT)
        return;
    s->job[k] = (ui_job_report){.kind = k, .state = UI_JOB_QUEUED, .generation = s->generation};
    if (s->generation == 0)
        s->base[k] = s->job[k];
}
