/* Per-step kernel choice for Conv and Gemm: the dense kernels, or CSR weights and the sparse
 * kernels (kernels/sparse.h) when enough weights are exactly zero.
 *
 * A calibrated rule, not a measurement at plan time: plans are rebuilt whenever the batch size
 * or the model changes (the TUI does it on every edit), timing each layer twice would cost more
 * than a ResNet-18 inference, and on a loaded machine the timings would pick differently from
 * run to run. The two kernels give identical results (sparse.h), so the choice only moves time.
 * SB_SPARSE=off forces the dense kernels, SB_SPARSE=on the sparse ones for any layer with a zero
 * weight (benchmarks and tests). */
#include "kernels/sparse.h"
#include "model.h"
#include "qplan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The largest fraction of non-zero weights at which the sparse kernel is chosen. Measured with
 * bench/sparse.sh (ResNet-18, 224x224, batch 1, AVX-512, 1 thread): at 70% zeros the sparse
 * kernel ran its convolutions at 0.65-0.95x the dense speed, at 90% at 2-3x; break-even lies
 * near 80% zeros for every layer shape. */
#define SPARSE_MAX_DENSITY 0.20

typedef enum { SPARSE_AUTO = 0, SPARSE_OFF, SPARSE_ON } sparse_mode;

static sparse_mode sparse_mode_get(void)
{
    const char *s = getenv("SB_SPARSE");
    if (s && (strcmp(s, "off") == 0 || strcmp(s, "0") == 0))
        return SPARSE_OFF;
    if (s && (strcmp(s, "on") == 0 || strcmp(s, "1") == 0))
        return SPARSE_ON;
    return SPARSE_AUTO;
}

/* The step's weights as a rows x cols matrix W (output features x reduction), element (r, c)
 * at w[r * rs + c * cs]; false when the step has no constant weights to make sparse. */
typedef struct weight_view {
    const float *w;
    int rows, cols;
    ptrdiff_t rs, cs;
} weight_view;

static bool step_weights(const sb_plan *p, const sb_step *st, weight_view *v)
{
    const sb_graph *g = p->g;
    const sb_node *n = &g->nodes[st->node];
    if ((n->op != SB_OP_CONV && n->op != SB_OP_GEMM) || n->n_in < 2)
        return false;
    v->w = st->weight ? st->weight : sb_value_f32(g, n->in[1]);
    const sb_shape *ws = &p->shapes[n->in[1]];
    if (!v->w)
        return false;
    if (n->op == SB_OP_CONV) {
        sb_conv_geom geom = sb_step_conv_geom(p, st);
        if (!sb_conv2d_sparse_ok(&geom))
            return false;
        v->rows = (int)ws->dim[0];
        v->cols = (int)(sb_shape_count(ws) / ws->dim[0]);
        v->rs = v->cols, v->cs = 1;
        return true;
    }
    if (ws->rank != 2)
        return false;
    const int tb = n->a.gemm.trans_b;
    v->rows = (int)ws->dim[!tb], v->cols = (int)ws->dim[tb];
    v->rs = tb ? v->cols : 1, v->cs = tb ? 1 : v->rows;
    return true;
}

static double density(const weight_view *v)
{
    int64_t nz = 0;
    for (int r = 0; r < v->rows; r++)
        for (int c = 0; c < v->cols; c++)
            nz += v->w[r * v->rs + c * v->cs] != 0.0f;
    return (double)nz / ((double)v->rows * v->cols);
}

static size_t gemm_scratch(const sb_plan *p, const sb_step *st)
{
    const sb_node *n = &p->g->nodes[st->node];
    if (n->op != SB_OP_GEMM)
        return 0;
    const sb_shape *as = &p->shapes[n->in[0]];
    const int ta = n->a.gemm.trans_a;
    return sb_gemm_sparse_scratch(ta, (int)as->dim[ta], (int)as->dim[!ta], st->csr->rows);
}

sb_status sb_plan_choose_kernels(sb_plan *p, sb_error *err)
{
    const sparse_mode mode = sparse_mode_get();
    if (mode == SPARSE_OFF)
        return SB_OK;
    for (int s = 0; s < p->n_steps; s++) {
        sb_step *st = &p->steps[s];
        weight_view v;
        if (st->kind != SB_STEP_NODE || st->q || !step_weights(p, st, &v))
            continue;
        const double d = density(&v);
        if (d >= 1.0 || (mode == SPARSE_AUTO && d > SPARSE_MAX_DENSITY))
            continue;
        st->csr = sb_csr_from_dense(v.w, v.rows, v.cols, v.rs, v.cs);
        if (!st->csr)
            return sb_error_set(err, SB_ERR_NOMEM, "out of memory building sparse weights of '%s'",
                                p->g->nodes[st->node].name);
        const sb_node *n = &p->g->nodes[st->node];
        if (n->op == SB_OP_CONV) {
            const sb_conv_geom geom = sb_step_conv_geom(p, st);
            if (!sb_conv2d_sparse_prepare(&geom, st->csr))
                return sb_error_set(err, SB_ERR_NOMEM, "out of memory preparing '%s'", n->name);
        }
        const size_t need = gemm_scratch(p, st);
        if (need > p->scratch_floats)
            p->scratch_floats = need;
    }
    return SB_OK;
}

void sb_plan_step_kernel_free(sb_step *st)
{
    sb_csr_free(st->csr);
    st->csr = NULL;
}

int sb_plan_step_of_node(const sb_plan *p, int node)
{
    for (int s = 0; s < p->n_steps; s++)
        if (p->steps[s].node == node)
            return s;
    return -1;
}

const char *sb_step_kernel(const sb_plan *p, const sb_step *st)
{
    const sb_op op = p->g->nodes[st->node].op;
    if (op == SB_OP_FAKEQUANT && st->q && st->q->kind == SB_QSTEP_QUANTIZE)
        return "quantize-u8"; /* f32 to the u8 activations the next int8 layer reads */
    if (op != SB_OP_CONV && op != SB_OP_GEMM && op != SB_OP_MATMUL)
        return NULL;
    return st->q ? st->q->kernel : st->csr ? "sparse-csr" : "f32";
}

const char *sb_model_layer_kernel(sb_model *m, int layer)
{
    if (!m->plan1 || layer < 0 || layer >= m->n_layers)
        return NULL;
    const int s = sb_plan_step_of_node(m->plan1, m->layers[layer].node);
    return s < 0 ? NULL : sb_step_kernel(m->plan1, &m->plan1->steps[s]);
}

void sb_model_kernel_summary(sb_model *m, char *buf, size_t n)
{
    enum { MAX_KINDS = 8 };
    const char *name[MAX_KINDS];
    int count[MAX_KINDS], kinds = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const char *k = sb_model_layer_kernel(m, i);
        int j = 0;
        while (k && j < kinds && strcmp(name[j], k))
            j++;
        if (!k || j == MAX_KINDS)
            continue;
        if (j == kinds)
            name[kinds] = k, count[kinds++] = 0;
        count[j]++;
    }
    size_t at = 0;
    if (n)
        buf[0] = 0;
    for (int j = 0; j < kinds && at < n; j++)
        at += (size_t)snprintf(buf + at, n - at, "%s%s x%d", j ? ", " : "", name[j], count[j]);
}
