/* Per-step profile: the plan's steps timed one by one over repeated runs. */
#include "model.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PROFILE_MAX_RUNS = 2000, PROFILE_WARMUP = 3 };

typedef struct stamps {
    double *t; /* runs x (steps + 1) */
    int run, n_steps;
} stamps;

static void stamp(const sb_plan *p, int step, void *user)
{
    stamps *s = user;
    s->t[(size_t)s->run * (size_t)(s->n_steps + 1) + (size_t)step] = omp_get_wtime();
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static const char *plain_kernel(sb_op op)
{
    switch (op) {
    case SB_OP_ADD:
    case SB_OP_MUL:
    case SB_OP_RELU:
    case SB_OP_CLIP:
    case SB_OP_SIGMOID:
    case SB_OP_HARDSIGMOID:
    case SB_OP_HARDSWISH:
    case SB_OP_BATCHNORM:
    case SB_OP_FAKEQUANT: return "elementwise";
    case SB_OP_MAXPOOL:
    case SB_OP_AVGPOOL: return "pool-direct";
    case SB_OP_GLOBALAVGPOOL: return "global-avgpool";
    default: return "generic";
    }
}

/* Which kernel runs a step, as a short name (the ISA appended where SIMD code runs). */
static void step_kernel(const sb_plan *p, const sb_step *st, char *buf, size_t n)
{
    const sb_node *node = &p->g->nodes[st->node];
    const char *isa = sb_kernels_isa(), *kernel;
    if (st->kind == SB_STEP_ALIAS)
        snprintf(buf, n, "alias (no copy)");
    else if (st->q && (kernel = sb_step_kernel(p, st)))
        snprintf(buf, n, "%s", kernel);
    else if (st->csr)
        snprintf(buf, n, "%s/%s", sb_step_kernel(p, st), isa);
    else if (node->op == SB_OP_CONV) {
        sb_conv_geom geom = sb_step_conv_geom(p, st);
        snprintf(buf, n, "%s/%s", sb_conv2d_kernel(&geom), isa);
    } else if (node->op == SB_OP_GEMM || node->op == SB_OP_MATMUL)
        snprintf(buf, n, "gemm/%s", isa);
    else
        snprintf(buf, n, "%s", plain_kernel(node->op));
}

static void describe(const sb_plan *p, int s, sb_step_time *out)
{
    const sb_graph *g = p->g;
    const sb_step *st = &p->steps[s];
    snprintf(out->name, sizeof out->name, "%s", g->nodes[st->node].name);
    out->node = st->node;
    size_t at = (size_t)snprintf(out->op, sizeof out->op, "%s", sb_op_name(g->nodes[st->node].op));
    for (int i = 0; i < st->n_fused && at < sizeof out->op; i++)
        at += (size_t)snprintf(out->op + at, sizeof out->op - at, "+%s",
                               sb_op_name(g->nodes[st->fused[i]].op));
    step_kernel(p, st, out->kernel, sizeof out->kernel);
}

static sb_status time_runs(sb_plan *p, double seconds, const volatile int *cancel, stamps *s,
                           sb_error *err)
{
    sb_status st = SB_OK;
    for (int i = 0; i < PROFILE_WARMUP && !st; i++)
        st = sb_plan_run(p, NULL, err);
    double start = omp_get_wtime();
    for (s->run = 0; !st && s->run < PROFILE_MAX_RUNS; s->run++) {
        if (s->run >= 3 && omp_get_wtime() - start >= seconds)
            break;
        if (cancel && __atomic_load_n(cancel, __ATOMIC_RELAXED))
            return sb_error_set(err, SB_ERR_CANCELLED, "cancelled");
        st = sb_plan_run_observed(p, NULL, stamp, s, err);
        stamp(p, s->n_steps, s);
    }
    return st;
}

static void summarise(const sb_plan *p, const stamps *s, double *col, sb_profile *out)
{
    const size_t w = (size_t)s->n_steps + 1;
    for (int k = 0; k < s->n_steps; k++) {
        for (int r = 0; r < s->run; r++)
            col[r] = (s->t[r * w + (size_t)k + 1] - s->t[r * w + (size_t)k]) * 1e3;
        describe(p, k, &out->steps[k]);
        out->steps[k].median_ms = median(col, s->run);
        out->steps[k].min_ms = col[0]; /* sorted by median() */
    }
    for (int r = 0; r < s->run; r++)
        col[r] = (s->t[r * w + (size_t)s->n_steps] - s->t[r * w]) * 1e3;
    out->run_median_ms = median(col, s->run);
    out->run_min_ms = col[0]; /* sorted by median() */
}

sb_status sb_profile_steps(sb_model *m, int batch, double seconds, const volatile int *cancel,
                           sb_profile *out, sb_error *err)
{
    memset(out, 0, sizeof *out);
    sb_plan *p;
    sb_status st = sb_model_plan(m, batch > 0 ? batch : 1, &p, err);
    if (st)
        return st;
    float *in = sb_plan_value(p, m->g->inputs[0]);
    memset(in, 0, (size_t)sb_shape_count(&p->shapes[m->g->inputs[0]]) * sizeof(float));
    stamps s = {.n_steps = p->n_steps};
    s.t = malloc((size_t)PROFILE_MAX_RUNS * (size_t)(p->n_steps + 1) * sizeof *s.t);
    double *col = malloc(PROFILE_MAX_RUNS * sizeof *col);
    out->steps = calloc((size_t)p->n_steps + 1, sizeof *out->steps);
    if (!s.t || !col || !out->steps)
        st = sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    if (!st)
        st = time_runs(p, seconds, cancel, &s, err);
    if (!st) {
        summarise(p, &s, col, out);
        out->n_steps = p->n_steps;
        out->runs = s.run;
        out->batch = p->batch;
        out->threads = omp_get_max_threads();
    }
    free(s.t);
    free(col);
    if (st)
        sb_profile_free(out);
    return st;
}

void sb_profile_free(sb_profile *p)
{
    free(p->steps);
    memset(p, 0, sizeof *p);
}
