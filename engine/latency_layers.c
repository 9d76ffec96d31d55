/* Batch-1 time per layer: the plan's steps timed one by one (a Conv/Gemm step includes the
 * BatchNorm and activation fused into it), median over repeated runs. */
#include "model.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

typedef struct step_clock {
    double *t; /* start of each step of the current run */
} step_clock;

static void stamp(const sb_plan *p, int step, void *user)
{
    ((step_clock *)user)->t[step] = omp_get_wtime();
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static sb_layer_time summarise(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return (sb_layer_time){n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v[0]};
}

/* step_of[layer]: the step running the layer's node, -1 if none. */
static void map_layers(const sb_model *m, const sb_plan *p, int *step_of)
{
    for (int l = 0; l < m->n_layers; l++) {
        step_of[l] = -1;
        for (int s = 0; s < p->n_steps; s++)
            if (p->steps[s].node == m->layers[l].node)
                step_of[l] = s;
    }
}

sb_status sb_latency_layers(sb_model *m, double seconds, sb_layer_time *layers,
                            sb_layer_time *total, sb_error *err)
{
    enum { MAX_RUNS = 2000, WARMUP = 3 };
    sb_plan *p;
    sb_status s = sb_model_plan(m, 1, &p, err);
    if (s)
        return s;
    const int L = m->n_layers, S = p->n_steps;
    step_clock clk = {malloc(((size_t)S + 1) * sizeof(double))};
    int *step_of = malloc(((size_t)L + 1) * sizeof *step_of);
    double *runs = malloc(((size_t)L + 1) * MAX_RUNS * sizeof *runs);
    double *tot = malloc(MAX_RUNS * sizeof *tot);
    if (!clk.t || !step_of || !runs || !tot) {
        free(clk.t), free(step_of), free(runs), free(tot);
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    }
    map_layers(m, p, step_of);
    float *in = sb_plan_value(p, m->g->inputs[0]);
    memset(in, 0, (size_t)sb_shape_count(&p->shapes[m->g->inputs[0]]) * sizeof(float));
    for (int i = 0; i < WARMUP && !s; i++)
        s = sb_plan_run(p, NULL, err);
    const double start = omp_get_wtime();
    int n = 0;
    while (!s && n < MAX_RUNS && (n < 3 || omp_get_wtime() - start < seconds)) {
        s = sb_plan_run_observed(p, NULL, stamp, &clk, err);
        clk.t[S] = omp_get_wtime();
        tot[n] = (clk.t[S] - clk.t[0]) * 1e3;
        for (int l = 0; l < L; l++)
            runs[(size_t)l * MAX_RUNS + n] =
                step_of[l] < 0 ? 0 : (clk.t[step_of[l] + 1] - clk.t[step_of[l]]) * 1e3;
        n++;
    }
    if (!s) {
        for (int l = 0; l < L; l++)
            layers[l] = summarise(runs + (size_t)l * MAX_RUNS, n);
        *total = summarise(tot, n);
    }
    free(clk.t), free(step_of), free(runs), free(tot);
    return s;
}
