#include "plan.h"

#include "qplan.h"

#include <math.h>
#include <stdint.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ---- fusion ---- */

/* The single consumer of value v, or -1 when v has several (or is a graph output). */
static int sole_consumer(const sb_graph *g, int v, int from)
{
    if (g->values[v].consumers != 1)
        return -1;
    for (int i = from; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++)
            if (g->nodes[i].in[j] == v)
                return i;
    return -1;
}

static bool const_scalar(const sb_graph *g, const sb_node *n, int i, float *out)
{
    if (i >= n->n_in || n->in[i] < 0)
        return true;
    const float *f = sb_value_f32(g, n->in[i]);
    if (!f || sb_shape_count(&g->values[n->in[i]].shape) != 1)
        return false;
    *out = f[0];
    return true;
}

/* Activation of node n as a fusable epilogue; false when n is not one. */
static bool as_activation(const sb_graph *g, const sb_node *n, sb_act *act)
{
    switch (n->op) {
    case SB_OP_RELU:
        *act = (sb_act){SB_ACT_RELU, 0, 0};
        return true;
    case SB_OP_SIGMOID:
        *act = (sb_act){SB_ACT_SIGMOID, 0, 0};
        return true;
    case SB_OP_HARDSWISH:
        *act = (sb_act){SB_ACT_HARDSWISH, 0, 0};
        return true;
    case SB_OP_HARDSIGMOID:
        *act = (sb_act){SB_ACT_HARDSIGMOID, n->a.hsig.alpha, n->a.hsig.beta};
        return true;
    case SB_OP_CLIP: {
        float lo = n->a.clip.min, hi = n->a.clip.max;
        *act = (sb_act){SB_ACT_CLIP, lo, hi};
        return g->opset < 11 || (const_scalar(g, n, 1, &act->a) && const_scalar(g, n, 2, &act->b));
    }
    default:
        return false;
    }
}

/* w' = w * gamma / sqrt(var + eps); b' = (b - mean) * gamma / sqrt(var + eps) + beta */
static sb_status fold_bn(const sb_graph *g, const sb_node *conv, const sb_node *bn, sb_step *st,
                         sb_error *err)
{
    const sb_value *w = &g->values[conv->in[1]];
    int64_t m = w->shape.dim[0], per = sb_shape_count(&w->shape) / m;
    const float *gamma = sb_value_f32(g, bn->in[1]), *beta = sb_value_f32(g, bn->in[2]);
    const float *mean = sb_value_f32(g, bn->in[3]), *var = sb_value_f32(g, bn->in[4]);
    const float *b = conv->n_in > 2 ? sb_value_f32(g, conv->in[2]) : NULL;
    st->weight = malloc((size_t)(m * per) * sizeof(float));
    st->bias = malloc((size_t)m * sizeof(float));
    if (!st->weight || !st->bias)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory folding '%s'", bn->name);
    const float *wd = w->data;
    for (int64_t o = 0; o < m; o++) {
        float scale = gamma[o] / sqrtf(var[o] + bn->a.bn.epsilon);
        for (int64_t k = 0; k < per; k++)
            st->weight[o * per + k] = wd[o * per + k] * scale;
        st->bias[o] = ((b ? b[o] : 0.0f) - mean[o]) * scale + beta[o];
    }
    return SB_OK;
}

static bool bn_foldable(const sb_graph *g, const sb_node *bn)
{
    for (int i = 1; i < 5; i++)
        if (!sb_value_f32(g, bn->in[i]))
            return false;
    return true;
}

static void take(sb_step *st, bool *taken, int node, int out_value)
{
    st->fused[st->n_fused++] = node;
    taken[node] = true;
    st->out_value = out_value;
}

/* Mul(v, HardSigmoid(v)) with v read by nothing else: PyTorch's export of hard-swish. Returns
 * the Mul node, or -1. */
static int xhardsigmoid_mul(const sb_graph *g, int v, int from, int *hsig)
{
    if (g->values[v].consumers != 2)
        return -1;
    for (int i = from; i < g->n_nodes; i++) {
        const sb_node *h = &g->nodes[i];
        if (h->op != SB_OP_HARDSIGMOID || h->in[0] != v)
            continue;
        int mul = sole_consumer(g, h->out[0], i + 1);
        if (mul < 0 || g->nodes[mul].op != SB_OP_MUL)
            return -1;
        const int *in = g->nodes[mul].in;
        if (!((in[0] == v && in[1] == h->out[0]) || (in[1] == v && in[0] == h->out[0])))
            return -1;
        *hsig = i;
        return mul;
    }
    return -1;
}

/* Folds the activation that alone reads the step's output into it (plain, or the
 * Mul(x, HardSigmoid(x)) pair). */
static void fuse_activation(const sb_graph *g, int i, sb_step *st, bool *taken)
{
    int next = sole_consumer(g, st->out_value, i + 1), hsig;
    if (next >= 0 && st->n_fused < SB_MAX_FUSED && as_activation(g, &g->nodes[next], &st->act)) {
        take(st, taken, next, g->nodes[next].out[0]);
        return;
    }
    int mul = xhardsigmoid_mul(g, st->out_value, i + 1, &hsig);
    if (mul >= 0 && st->n_fused + 2 <= SB_MAX_FUSED) {
        const sb_node *h = &g->nodes[hsig];
        st->act = (sb_act){SB_ACT_XHARDSIGMOID, h->a.hsig.alpha, h->a.hsig.beta};
        take(st, taken, hsig, h->out[0]);
        take(st, taken, mul, g->nodes[mul].out[0]);
    }
}

/* Folds the BatchNorm and activation that alone read a Conv/Gemm's output into its step,
 * wherever they sit in the node order: their other inputs are constants, so they can run as
 * soon as the Conv has. */
static sb_status fuse_after(const sb_graph *g, int i, sb_step *st, bool *taken, sb_error *err)
{
    const sb_node *n = &g->nodes[i];
    st->out_value = n->out[0];
    bool weights_const = sb_value_f32(g, n->in[1]) != NULL;
    int next = sole_consumer(g, st->out_value, i + 1);
    if (n->op == SB_OP_CONV && weights_const && next >= 0 &&
        g->nodes[next].op == SB_OP_BATCHNORM && g->nodes[next].in[0] == st->out_value &&
        bn_foldable(g, &g->nodes[next])) {
        sb_status s = fold_bn(g, n, &g->nodes[next], st, err);
        if (s)
            return s;
        take(st, taken, next, g->nodes[next].out[0]);
    }
    fuse_activation(g, i, st, taken);
    return SB_OK;
}

static bool is_alias_op(sb_op op)
{
    return op == SB_OP_FLATTEN || op == SB_OP_RESHAPE || op == SB_OP_IDENTITY ||
           op == SB_OP_DROPOUT;
}

/* An activation whose input nothing else reads may overwrite it (saves a copy and a buffer). */
static bool runs_in_place(const sb_graph *g, const sb_node *n)
{
    bool unary = n->op == SB_OP_RELU || n->op == SB_OP_CLIP || n->op == SB_OP_SIGMOID ||
                 n->op == SB_OP_HARDSIGMOID || n->op == SB_OP_HARDSWISH;
    const sb_value *in = &g->values[n->in[0]];
    return unary && in->kind == SB_VAL_ACT && in->consumers == 1;
}

static sb_status make_steps(sb_plan *p, sb_error *err)
{
    const sb_graph *g = p->g;
    p->steps = calloc((size_t)g->n_nodes + 1, sizeof *p->steps);
    bool *taken = calloc((size_t)g->n_nodes + 1, sizeof *taken);
    if (!p->steps || !taken) {
        free(taken);
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    }
    sb_status s = SB_OK;
    for (int i = 0; i < g->n_nodes && !s; i++) {
        if (taken[i])
            continue;
        const sb_node *n = &g->nodes[i];
        sb_step *st = &p->steps[p->n_steps++];
        st->node = i;
        st->out_value = n->out[0];
        st->win = n->a.win;
        if (n->op == SB_OP_CONV || n->op == SB_OP_GEMM)
            s = fuse_after(g, i, st, taken, err);
        else if (n->op == SB_OP_ADD || n->op == SB_OP_MUL)
            fuse_activation(g, i, st, taken);
        else if (is_alias_op(n->op) && g->values[n->in[0]].kind != SB_VAL_CONST)
            st->kind = SB_STEP_ALIAS; /* a constant's reshape gets a buffer and a copy */
    }
    free(taken);
    return s;
}

/* ---- buffers: one arena, slots reused once their last reader has run ---- */

static sb_status assign_slots(sb_plan *p, sb_error *err)
{
    const sb_graph *g = p->g;
    int nv = g->n_values;
    p->buffer_of = malloc(((size_t)nv + 1) * sizeof *p->buffer_of);
    if (!p->buffer_of)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    for (int v = 0; v < nv; v++)
        p->buffer_of[v] = -1;
    for (int i = 0; i < g->n_inputs; i++)
        p->buffer_of[g->inputs[i]] = p->n_slots++;
    for (int s = 0; s < p->n_steps; s++) {
        const sb_step *st = &p->steps[s];
        const sb_node *n = &g->nodes[st->node];
        if (st->kind == SB_STEP_ALIAS || (st->out_value == n->out[0] && runs_in_place(g, n)))
            p->buffer_of[st->out_value] = p->buffer_of[n->in[0]];
        else
            p->buffer_of[st->out_value] = p->n_slots++;
    }
    /* last step reading each slot; graph outputs and inputs live to the end */
    int *last_use = calloc((size_t)p->n_slots + 1, sizeof *last_use);
    if (!last_use)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    for (int s = 0; s < p->n_steps; s++) {
        const sb_node *n = &g->nodes[p->steps[s].node];
        for (int j = 0; j < n->n_in; j++)
            if (n->in[j] >= 0 && p->buffer_of[n->in[j]] >= 0)
                last_use[p->buffer_of[n->in[j]]] = s;
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (p->buffer_of[g->outputs[i]] >= 0)
            last_use[p->buffer_of[g->outputs[i]]] = p->n_steps;
    for (int i = 0; i < g->n_inputs; i++)
        last_use[p->buffer_of[g->inputs[i]]] = p->n_steps;

    size_t *size = calloc((size_t)p->n_slots + 1, sizeof *size);
    int *first = calloc((size_t)p->n_slots + 1, sizeof *first);
    p->offset = calloc((size_t)p->n_slots + 1, sizeof *p->offset);
    if (!size || !first || !p->offset) {
        free(size), free(first), free(last_use);
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    }
    for (int v = 0; v < nv; v++) {
        int b = p->buffer_of[v];
        if (b < 0)
            continue;
        size_t n = (size_t)sb_shape_count(&p->shapes[v]);
        n = (n + 15) & ~(size_t)15; /* 64-byte alignment of every slot */
        if (n > size[b])
            size[b] = n;
    }
    for (int s = 0; s < p->n_steps; s++) {
        int b = p->buffer_of[p->steps[s].out_value];
        if (b >= 0 && !first[b] && b >= g->n_inputs)
            first[b] = s;
    }
    /* Greedy first fit over slots in creation order: a slot may take the place of any slot
     * whose lifetime [first, last] does not overlap its own. */
    size_t total = 0;
    for (int b = 0; b < p->n_slots; b++) {
        size_t off = 0;
        bool moved = true;
        while (moved) {
            moved = false;
            for (int o = 0; o < b; o++) {
                bool overlap_time = !(last_use[o] < first[b] || last_use[b] < first[o]);
                bool overlap_space = off < p->offset[o] + size[o] && p->offset[o] < off + size[b];
                if (overlap_time && overlap_space) {
                    off = p->offset[o] + size[o];
                    moved = true;
                }
            }
        }
        p->offset[b] = off;
        if (off + size[b] > total)
            total = off + size[b];
    }
    p->arena_floats = total;
    free(size), free(first), free(last_use);
    return SB_OK;
}

/* Constant Conv weights packed once for the dense GEMM (the step's folded weights, else the
 * graph's); steps on the sparse or int8 kernels keep their own formats. */
static sb_status prepack_weights(sb_plan *p, sb_error *err)
{
    for (int s = 0; s < p->n_steps; s++) {
        sb_step *st = &p->steps[s];
        const sb_node *n = &p->g->nodes[st->node];
        const float *w = st->weight ? st->weight : NULL;
        if (n->op != SB_OP_CONV || st->kind != SB_STEP_NODE || st->csr || st->q)
            continue;
        if (!w)
            w = sb_value_f32(p->g, n->in[1]);
        sb_conv_geom geom = sb_step_conv_geom(p, st);
        size_t need = w ? sb_conv2d_packed_floats(&geom) : 0;
        if (!need)
            continue;
        st->packed = aligned_alloc(64, (need * sizeof(float) + 63) & ~(size_t)63);
        if (!st->packed)
            return sb_error_set(err, SB_ERR_NOMEM, "out of memory packing the weights of '%s'",
                                n->name);
        sb_conv2d_pack(&geom, w, st->packed);
    }
    return SB_OK;
}

/* Largest conv workspace of the plan, or SIZE_MAX when one image's im2col buffer alone would
 * pass the budget (computed in checked int64 first, so the kernel's own product cannot wrap). */
static size_t conv_scratch(const sb_plan *p)
{
    const int64_t budget = (int64_t)(SB_PLAN_MAX_BYTES / sizeof(float));
    size_t most = 0;
    for (int s = 0; s < p->n_steps; s++) {
        const sb_node *n = &p->g->nodes[p->steps[s].node];
        if (n->op != SB_OP_CONV)
            continue;
        sb_conv_geom geom = sb_step_conv_geom(p, &p->steps[s]);
        int64_t cols, per_image;
        if (sb_mul_overflows((int64_t)(geom.C / geom.group) * geom.kh, geom.kw, &cols) ||
            sb_mul_overflows(cols, (int64_t)geom.OH * geom.OW, &per_image) || per_image > budget)
            return SIZE_MAX;
        size_t need = sb_conv2d_scratch(&geom, p->batch, p->threads);
        if (need > most)
            most = need;
    }
    return most;
}

void sb_plan_borrow_packs(sb_plan *p, const sb_plan *donor)
{
    if (p->packs_borrowed || p->g != donor->g || p->n_steps != donor->n_steps)
        return;
    for (int s = 0; s < p->n_steps; s++)
        if (p->steps[s].node != donor->steps[s].node ||
            !p->steps[s].packed != !donor->steps[s].packed)
            return;
    for (int s = 0; s < p->n_steps; s++) {
        free(p->steps[s].packed);
        p->steps[s].packed = donor->steps[s].packed;
    }
    p->packs_borrowed = true;
}

static sb_status check_budget(const sb_plan *p, sb_error *err)
{
    const size_t most = SB_PLAN_MAX_BYTES / sizeof(float);
    if (p->arena_floats <= most && p->scratch_floats <= most - p->arena_floats)
        return SB_OK;
    if (p->scratch_floats == SIZE_MAX)
        return sb_error_set(err, SB_ERR_NOMEM,
                            "the plan for batch %d needs a convolution workspace over the %zu MB "
                            "limit; use a smaller input size",
                            p->batch, SB_PLAN_MAX_BYTES >> 20);
    return sb_error_set(err, SB_ERR_NOMEM,
                        "the plan for batch %d needs %zu MB of activations and %zu MB of "
                        "convolution workspace, over the %zu MB limit; use a smaller batch or "
                        "input size",
                        p->batch, p->arena_floats >> 18, p->scratch_floats >> 18,
                        SB_PLAN_MAX_BYTES >> 20);
}

void sb_plan_free(sb_plan *p)
{
    if (!p)
        return;
    for (int s = 0; s < p->n_steps; s++) {
        free(p->steps[s].weight);
        free(p->steps[s].bias);
        sb_qstep_free(p->steps[s].q);
        sb_plan_step_kernel_free(&p->steps[s]);
        if (!p->packs_borrowed)
            free(p->steps[s].packed);
    }
    free(p->steps);
    free(p->shapes);
    free(p->buffer_of);
    free(p->offset);
    free(p->arena);
    free(p->scratch);
    free(p);
}

/* The first input's leading dimension is the batch when it is symbolic or the plan asks for
 * another batch size; every other dimension is as declared. */
static sb_shape batch_shape(const sb_graph *g, int input, int batch)
{
    sb_shape s = g->input_decl[input];
    if (input == 0 && s.rank > 0 && (s.dim[0] < 0 || batch > 0))
        s.dim[0] = batch > 0 ? batch : 1;
    return s;
}

/* Window pads are resolved during inference, so each step keeps its own copy. */
static void capture_windows(sb_plan *p)
{
    for (int s = 0; s < p->n_steps; s++)
        p->steps[s].win = p->g->nodes[p->steps[s].node].a.win;
}

sb_status sb_plan_new(sb_graph *g, int batch, sb_plan **out, sb_error *err)
{
    sb_shape in[SB_MAX_INPUTS];
    if (g->n_inputs > SB_MAX_INPUTS)
        return sb_error_set(err, SB_ERR_UNSUPPORTED, "more than %d graph inputs", SB_MAX_INPUTS);
    for (int i = 0; i < g->n_inputs; i++)
        in[i] = batch_shape(g, i, batch);
    return sb_plan_new_shapes(g, in, out, err);
}

sb_status sb_plan_new_shapes(sb_graph *g, const sb_shape *in, sb_plan **out, sb_error *err)
{
    *out = NULL;
    int batch = g->n_inputs && in[0].rank ? (int)in[0].dim[0] : 1;
    for (int i = 0; i < g->n_inputs; i++) {
        char buf[160];
        for (int d = 0; d < in[i].rank; d++)
            if (in[i].dim[d] < 0)
                return sb_error_set(err, SB_ERR_SHAPE,
                                    "graph input '%s' has a symbolic dimension %d other than the "
                                    "batch; the model cannot be planned",
                                    g->values[g->inputs[i]].name, d);
            else if (in[i].dim[d] == 0)
                return sb_error_set(err, SB_ERR_UNSUPPORTED,
                                    "graph input '%s' has shape %s: empty tensors are not "
                                    "supported",
                                    g->values[g->inputs[i]].name,
                                    sb_shape_str(&in[i], buf, sizeof buf));
        if (!sb_shape_within_limits(&in[i]))
            return sb_error_set(err, SB_ERR_SHAPE, "graph input '%s': shape %s is too large",
                                g->values[g->inputs[i]].name,
                                sb_shape_str(&in[i], buf, sizeof buf));
    }
    sb_status s = sb_graph_infer_shapes(g, in, err);
    if (s)
        return s;
    sb_plan *p = calloc(1, sizeof *p);
    if (!p)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    p->g = g;
    p->batch = batch;
    p->threads = omp_get_max_threads();
    p->shapes = malloc(((size_t)g->n_values + 1) * sizeof *p->shapes);
    if (!p->shapes) {
        sb_plan_free(p);
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    }
    for (int v = 0; v < g->n_values; v++)
        p->shapes[v] = g->values[v].shape;
    if ((s = make_steps(p, err)) || (s = sb_qplan_apply(p, err)) || (s = assign_slots(p, err))) {
        sb_plan_free(p);
        return s;
    }
    capture_windows(p);
    p->scratch_floats = conv_scratch(p);
    if (sb_qplan_scratch_floats(p) > p->scratch_floats)
        p->scratch_floats = sb_qplan_scratch_floats(p);
    if ((s = check_budget(p, err)) || (s = sb_plan_choose_kernels(p, err)) ||
        (s = prepack_weights(p, err))) {
        sb_plan_free(p);
        return s;
    }
    p->arena = aligned_alloc(64, (p->arena_floats * sizeof(float) + 127) & ~(size_t)63);
    p->scratch = aligned_alloc(64, (p->scratch_floats * sizeof(float) + 127) & ~(size_t)63);
    if (!p->arena || !p->scratch) {
        sb_plan_free(p);
        return sb_error_set(err, SB_ERR_NOMEM,
                            "out of memory: the plan for batch %d needs %zu MB of activations",
                            batch, p->arena_floats * 4 >> 20);
    }
    *out = p;
    return SB_OK;
}

float *sb_plan_value(const sb_plan *p, int v)
{
    if (p->buffer_of[v] < 0)
        return (float *)p->g->values[v].data;
    return p->arena + p->offset[p->buffer_of[v]];
}

sb_status sb_plan_run_observed(sb_plan *p, const volatile int *cancel, sb_step_observer before,
                               void *user, sb_error *err)
{
    for (int s = 0; s < p->n_steps; s++) {
        if (cancel && __atomic_load_n(cancel, __ATOMIC_RELAXED))
            return sb_error_set(err, SB_ERR_CANCELLED, "cancelled");
        if (before)
            before(p, s, user);
        if (p->steps[s].kind == SB_STEP_NODE)
            sb_op_run(p, &p->steps[s]);
    }
    return SB_OK;
}

sb_status sb_plan_run(sb_plan *p, const volatile int *cancel, sb_error *err)
{
    return sb_plan_run_observed(p, cancel, NULL, NULL, err);
}

sb_status sb_plan_run_steps(sb_plan *p, int from, int to, const volatile int *cancel,
                            sb_error *err)
{
    for (int s = from < 0 ? 0 : from; s < to && s < p->n_steps; s++) {
        if (cancel && __atomic_load_n(cancel, __ATOMIC_RELAXED))
            return sb_error_set(err, SB_ERR_CANCELLED, "cancelled");
        if (p->steps[s].kind == SB_STEP_NODE)
            sb_op_run(p, &p->steps[s]);
    }
    return SB_OK;
}
