/* Per-layer kernels and measured times as the table shows them: which model's they are (the
 * current configuration's, a previous one's while the current one is measured, or not yet
 * known), so a previous configuration's time is never shown as the current one's. */
#include "ui_state.h"

#include "ui_format.h"

#include <stdio.h>
#include <stdlib.h>

ui_layer_times *ui_layer_times_new(int n_layers, uint64_t generation, bool with_base)
{
    ui_layer_times *t = calloc(1, sizeof *t);
    if (!t || !(t->layer = calloc((size_t)n_layers + 1, sizeof *t->layer)) ||
        (with_base && !(t->base = calloc((size_t)n_layers + 1, sizeof *t->base)))) {
        ui_layer_times_free(t);
        return NULL;
    }
    t->generation = generation;
    t->n_layers = n_layers;
    return t;
}

void ui_layer_times_free(ui_layer_times *t)
{
    if (!t)
        return;
    free(t->layer);
    free(t->base);
    free(t);
}

void ui_state_set_times(ui_state *s, ui_layer_times *t)
{
    if (!t)
        return;
    ui_layer_times **slot = t->generation ? &s->times : &s->base_times;
    if (*slot && (*slot)->generation > t->generation) {
        ui_layer_times_free(t);
        return;
    }
    ui_layer_times_free(*slot);
    *slot = t;
    if (s->sort == UI_SORT_TIME)
        ui_table_sort(s, UI_SORT_TIME); /* the selection follows its layer */
}

const ui_layer_times *ui_times_now(const ui_state *s, ui_measure *m)
{
    bool base = ui_state_is_base(s);
    const ui_layer_times *t = base ? s->base_times : s->times;
    const ui_job_report *job = base ? &s->base[UI_JOB_LAYERS] : &s->job[UI_JOB_LAYERS];
    if (t && (base || t->generation == s->generation)) {
        *m = UI_MEASURE_CURRENT;
        return t;
    }
    if (job->state == UI_JOB_FAILED) {
        *m = UI_MEASURE_FAILED;
        return NULL;
    }
    *m = t ? UI_MEASURE_STALE : UI_MEASURE_PENDING;
    return t;
}

ui_measure ui_row_kernel(const ui_state *s, int row, const char **kernel)
{
    *kernel = "";
    if (row < 0 || row >= s->n_rows)
        return UI_MEASURE_PENDING;
    if (ui_state_is_base(s)) {
        *kernel = s->rows[row].kernel;
        return UI_MEASURE_CURRENT;
    }
    if (!s->stats || row >= s->stats->n_layers)
        return UI_MEASURE_PENDING;
    *kernel = s->stats->layer[row].kernel;
    return s->stats->generation == s->generation ? UI_MEASURE_CURRENT : UI_MEASURE_STALE;
}

ui_measure ui_row_time(const ui_state *s, int row, double *ms)
{
    ui_measure m;
    const ui_layer_times *t = ui_times_now(s, &m);
    *ms = t && row >= 0 && row < t->n_layers ? t->layer[row].median_ms : 0;
    return t && (row < 0 || row >= t->n_layers) ? UI_MEASURE_PENDING : m;
}

/* The base model's times to compare the shown ones with: timed beside them, or alone. */
static const sb_layer_time *base_layers(const ui_state *s, int *n)
{
    ui_measure m;
    const ui_layer_times *t = ui_times_now(s, &m);
    if (t && t->base) {
        *n = t->n_layers;
        return t->base;
    }
    *n = s->base_times ? s->base_times->n_layers : 0;
    return s->base_times ? s->base_times->layer : NULL;
}

double ui_row_base_time(const ui_state *s, int row)
{
    int n;
    const sb_layer_time *b = base_layers(s, &n);
    return b && row >= 0 && row < n ? b[row].median_ms : 0;
}

ui_measure ui_times_sum(const ui_state *s, double *ms, double *base_ms)
{
    ui_measure m;
    const ui_layer_times *t = ui_times_now(s, &m);
    *ms = *base_ms = 0;
    for (int i = 0; t && i < t->n_layers; i++)
        *ms += t->layer[i].median_ms;
    int n;
    const sb_layer_time *b = base_layers(s, &n);
    for (int i = 0; b && i < n; i++)
        *base_ms += b[i].median_ms;
    return m;
}

/* "what kernel, how long": the kernel, or "(kernel)" while the current model is being built. */
static int kernel_text(const ui_state *s, int row, char *buf, size_t n)
{
    const char *k;
    ui_measure m = ui_row_kernel(s, row, &k);
    if (m == UI_MEASURE_PENDING)
        return snprintf(buf, n, "kernel ...");
    return snprintf(buf, n, m == UI_MEASURE_STALE ? "(%s)" : "%s", k[0] ? k : "no plan");
}

char *ui_row_speed_text(const ui_state *s, int row, char *buf, size_t n)
{
    char a[16], b[16], c[16], d[16];
    ui_measure m;
    const ui_layer_times *t = ui_times_now(s, &m);
    int len = kernel_text(s, row, buf, n);
    if (len < 0 || (size_t)len >= n)
        return buf;
    char *p = buf + len;
    size_t left = n - (size_t)len;
    double ms = 0, sum, base_sum, base_ms = ui_row_base_time(s, row);
    if (t && row < t->n_layers)
        ms = t->layer[row].median_ms;
    if (m == UI_MEASURE_FAILED) {
        snprintf(p, left, "  time not measured: %s", s->job[UI_JOB_LAYERS].error);
    } else if (m == UI_MEASURE_PENDING) {
        snprintf(p, left, "  time: measured after accuracy and latency");
    } else if (m == UI_MEASURE_STALE) {
        snprintf(p, left, "  time: measuring (previous settings: %s ms)",
                 ui_fmt_ms(a, sizeof a, ms));
    } else if (ms <= 0) {
        snprintf(p, left, "  no step of its own: its time is in the step it is fused into");
    } else {
        ui_times_sum(s, &sum, &base_sum);
        int k = snprintf(p, left, "  %s ms median (min %s)", ui_fmt_ms(a, sizeof a, ms),
                         ui_fmt_ms(b, sizeof b, t->layer[row].min_ms));
        if (!ui_state_is_base(s) && base_ms > 0 && k > 0 && (size_t)k < left)
            k += snprintf(p + k, left - (size_t)k, "; base %s %s ms, %.2fx %s",
                          s->rows[row].kernel[0] ? s->rows[row].kernel : "",
                          ui_fmt_ms(c, sizeof c, base_ms),
                          base_ms >= ms ? base_ms / ms : ms / base_ms,
                          base_ms >= ms ? "faster" : "slower");
        if (k > 0 && (size_t)k < left)
            snprintf(p + k, left - (size_t)k,
                     "; %.1f%% of the layers' %s ms (a run: %s ms)",
                     100 * ms / sum, ui_fmt_ms(a, sizeof a, sum),
                     ui_fmt_ms(d, sizeof d, t->run.median_ms));
    }
    return buf;
}
