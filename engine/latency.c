/* Batch-1 latency: warm-up, then repeated runs for a time budget; median and spread. */
#include "model.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

sb_status sb_latency_measure(sb_model *m, double seconds, const volatile int *cancel,
                             sb_latency *out, sb_error *err)
{
    enum { MAX_RUNS = 100000, WARMUP = 5 };
    sb_plan *p;
    memset(out, 0, sizeof *out);
    sb_status s = sb_model_plan(m, 1, &p, err);
    if (s)
        return s;
    float *in = sb_plan_value(p, m->g->inputs[0]);
    memset(in, 0, (size_t)sb_shape_count(&p->shapes[m->g->inputs[0]]) * sizeof(float));
    for (int i = 0; i < WARMUP && !s; i++)
        s = sb_plan_run(p, NULL, err);
    double *t = malloc(MAX_RUNS * sizeof *t);
    if (!t)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    double start = omp_get_wtime(), now = start;
    int n = 0;
    while (!s && n < MAX_RUNS && (n < 3 || now - start < seconds)) {
        double t0 = omp_get_wtime();
        s = sb_plan_run(p, cancel, err);
        now = omp_get_wtime();
        t[n++] = (now - t0) * 1e3;
    }
    if (!s) {
        qsort(t, (size_t)n, sizeof *t, cmp_double);
        *out = (sb_latency){.median_ms = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2,
                            .min_ms = t[0], .max_ms = t[n - 1], .runs = n,
                            .threads = omp_get_max_threads()};
    }
    free(t);
    return s;
}
