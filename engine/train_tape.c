/* The training tape: a graph copy with per-value activations and gradients, the trained
 * parameters, and the forward and backward sweeps over the nodes. */
#include "train_tape.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *alloc_floats(size_t n)
{
    return aligned_alloc(64, ((n + 16) * sizeof(float) + 63) & ~(size_t)63);
}

static bool is_alias_op(sb_op op)
{
    return op == SB_OP_FLATTEN || op == SB_OP_RESHAPE || op == SB_OP_IDENTITY ||
           op == SB_OP_DROPOUT;
}

/* Input slots whose float constants are trained. */
static bool trainable_slot(const sb_node *n, int j, bool all)
{
    switch (n->op) {
    case SB_OP_CONV:
    case SB_OP_GEMM: return j == 1 || j == 2;
    case SB_OP_MATMUL: return j == 1;
    case SB_OP_BATCHNORM: return j == 1 || j == 2;
    case SB_OP_ADD:
    case SB_OP_MUL: return all;
    default: return false;
    }
}

static bool is_float_const(const sb_graph *g, int v)
{
    return v >= 0 && g->values[v].kind == SB_VAL_CONST && g->values[v].dtype == SB_F32 &&
           g->values[v].data;
}

/* A constant read by several slots, one of them trained, gets a copy per extra slot, so each
 * trained parameter has exactly one reader (PyTorch's exporter shares equal initializers). */
static sb_status untie(sb_graph *g, bool all, sb_error *err)
{
    int nv = g->n_values;
    uint8_t *claimed = calloc((size_t)nv + 1, 1); /* 1: read, 2: read by a trained slot */
    if (!claimed)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    sb_status s = SB_OK;
    for (int i = 0; i < g->n_nodes && !s; i++) {
        for (int j = 0; j < g->nodes[i].n_in && !s; j++) {
            int v = g->nodes[i].in[j];
            if (v < 0 || v >= nv || !is_float_const(g, v))
                continue;
            bool tr = trainable_slot(&g->nodes[i], j, all);
            if (!claimed[v]) {
                claimed[v] = tr ? 2 : 1;
                continue;
            }
            if (!tr && claimed[v] == 1)
                continue;
            char name[600];
            snprintf(name, sizeof name, "%s@%s#%d", g->values[v].name, g->nodes[i].name, j);
            int c = sb_graph_add_value(g, name, SB_VAL_CONST);
            if (c < 0) {
                s = sb_error_set(err, SB_ERR_NOMEM, "out of memory");
                break;
            }
            sb_value *src = &g->values[v], *dst = &g->values[c];
            size_t bytes = (size_t)sb_shape_count(&src->shape) * sizeof(float);
            dst->dtype = SB_F32;
            dst->shape = src->shape;
            dst->data = malloc(bytes + 1);
            if (!dst->data) {
                s = sb_error_set(err, SB_ERR_NOMEM, "out of memory");
                break;
            }
            memcpy(dst->data, src->data, bytes);
            dst->consumers = 1;
            g->nodes[i].in[j] = c;
        }
    }
    free(claimed);
    return s;
}

/* Operators the backward pass covers, with the inputs they cannot differentiate. */
static sb_status check_trainable(const sb_graph *g, sb_error *err)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const sb_node *n = &g->nodes[i];
        if (n->op == SB_OP_MATMUL && n->n_in > 1 && g->values[n->in[1]].shape.rank != 2)
            return sb_error_set(err, SB_ERR_UNSUPPORTED,
                                "node '%s' (MatMul): training supports a 2-D second operand "
                                "only (a batched matrix product has no backward pass yet)",
                                n->name);
        if (n->op == SB_OP_CONV && n->a.win.spatial != 2 && n->a.win.spatial != 1)
            return sb_error_set(err, SB_ERR_UNSUPPORTED, "node '%s' (Conv): only 1-D and 2-D",
                                n->name);
    }
    return SB_OK;
}

static sb_shape input_shape(const sb_graph *g, int input, int batch)
{
    sb_shape s = g->input_decl[input];
    if (input == 0 && s.rank > 0)
        s.dim[0] = batch;
    return s;
}

sb_status sb_tape_set_batch(sb_tape *t, int n, sb_error *err)
{
    if (n < 1 || n > t->cap)
        return sb_error_set(err, SB_ERR_ARG, "batch %d is outside [1, %d]", n, t->cap);
    sb_shape in[SB_MAX_INPUTS];
    for (int i = 0; i < t->g->n_inputs; i++)
        in[i] = input_shape(t->g, i, n);
    sb_status s = sb_graph_infer_shapes(t->g, in, err);
    if (!s)
        t->batch = n;
    return s;
}

int64_t sb_tape_count(const sb_tape *t, int v) { return sb_shape_count(&t->g->values[v].shape); }

float *sb_tape_input(sb_tape *t, int i) { return t->act[t->g->inputs[i]]; }

int sb_tape_find_param(const sb_tape *t, int value)
{
    return value >= 0 && value < t->g->n_values ? t->param_of[value] : -1;
}

void sb_tape_free(sb_tape *t)
{
    if (!t)
        return;
    for (int v = 0; t->g && v < t->g->n_values; v++) {
        if (t->own && t->own[v]) {
            free(t->act[v]);
            if (t->param_of[v] < 0)
                free(t->grad[v]);
        }
    }
    for (int k = 0; k < t->n_params; k++) {
        sb_tparam *p = &t->params[k];
        free(p->shadow), free(p->grad), free(p->mom), free(p->mask);
    }
    for (int i = 0; t->saved && i < t->g->n_nodes; i++)
        free(t->saved[i]);
    free(t->saved);
    free(t->params);
    free(t->act), free(t->grad), free(t->own), free(t->need_grad), free(t->param_of);
    free(t->skip), free(t->root), free(t->zeroed);
    free(t->work);
    sb_graph_free(t->g);
    free(t);
}

/* Collects the trained parameters (one per constant in a trained slot). */
static sb_status collect_params(sb_tape *t, sb_error *err)
{
    sb_graph *g = t->g;
    t->params = calloc((size_t)g->n_values + 1, sizeof *t->params);
    if (!t->params)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    for (int i = 0; i < g->n_nodes; i++) {
        const sb_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_in; j++) {
            int v = n->in[j];
            if (!is_float_const(g, v) || !trainable_slot(n, j, t->opt.all_consts) ||
                t->param_of[v] >= 0)
                continue;
            sb_tparam *p = &t->params[t->n_params];
            p->value = v;
            p->node = i;
            p->slot = j;
            p->layer = -1;
            p->n = sb_shape_count(&g->values[v].shape);
            p->w = g->values[v].data;
            p->grad = alloc_floats((size_t)p->n);
            p->mom = alloc_floats((size_t)p->n);
            p->q = SB_LAYER_DEFAULT;
            if (!p->grad || !p->mom)
                return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
            memset(p->mom, 0, (size_t)p->n * sizeof(float));
            t->param_of[v] = t->n_params++;
        }
    }
    return SB_OK;
}

/* Values that lead to a trained parameter (or to an input, for gradient checks) need grads. */
static void mark_need_grad(sb_tape *t)
{
    sb_graph *g = t->g;
    for (int v = 0; v < g->n_values; v++)
        t->need_grad[v] = t->param_of[v] >= 0;
    for (int i = 0; t->opt.input_grad && i < g->n_inputs; i++)
        t->need_grad[g->inputs[i]] = g->values[g->inputs[i]].dtype == SB_F32;
    for (int i = 0; i < g->n_nodes; i++) {
        const sb_node *n = &g->nodes[i];
        bool any = false;
        for (int j = 0; j < n->n_in; j++)
            any |= n->in[j] >= 0 && t->need_grad[n->in[j]] &&
                   !(n->op == SB_OP_RESHAPE && j == 1);
        for (int k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0)
                t->need_grad[n->out[k]] = any && !t->skip[i] && k == 0;
    }
}

/* Activation and gradient storage: one buffer per value, shared with the input for
 * Flatten/Reshape/Identity/Dropout (same elements in the same order). */
static sb_status alloc_values(sb_tape *t, sb_error *err)
{
    sb_graph *g = t->g;
    for (int i = 0; i < g->n_inputs; i++) {
        int v = g->inputs[i];
        size_t n = (size_t)sb_shape_count(&g->values[v].shape);
        t->act[v] = alloc_floats(n);
        t->own[v] = true;
        if (t->need_grad[v] && !(t->grad[v] = alloc_floats(n)))
            return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
        if (!t->act[v])
            return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    }
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].kind == SB_VAL_CONST) {
            t->act[v] = g->values[v].data;
            if (t->param_of[v] >= 0)
                t->grad[v] = t->params[t->param_of[v]].grad;
        }
    for (int i = 0; i < g->n_nodes; i++) {
        const sb_node *n = &g->nodes[i];
        int y = n->out[0];
        if (y < 0 || t->skip[i])
            continue;
        if (is_alias_op(n->op) && g->values[n->in[0]].kind != SB_VAL_CONST) {
            t->act[y] = t->act[n->in[0]];
            t->grad[y] = t->grad[n->in[0]];
            t->root[y] = t->root[n->in[0]];
            continue;
        }
        size_t cnt = (size_t)sb_shape_count(&g->values[y].shape);
        t->own[y] = true;
        t->act[y] = alloc_floats(cnt);
        if (!t->act[y] || (t->need_grad[y] && !(t->grad[y] = alloc_floats(cnt))))
            return sb_error_set(err, SB_ERR_NOMEM, "out of memory for the activations of '%s'",
                                n->name);
        size_t save = n->op == SB_OP_BATCHNORM ? 2 * (size_t)g->values[y].shape.dim[1]
                      : n->op == SB_OP_MAXPOOL   ? cnt /* argmax per output, int32 */
                                                 : 0;
        if (save && !(t->saved[i] = alloc_floats(save)))
            return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    }
    return SB_OK;
}

static sb_status ensure_work(sb_tape *t, sb_error *err)
{
    int threads = omp_get_max_threads();
    if (t->work && threads <= t->threads)
        return SB_OK;
    int batch = t->batch; /* sizes are for a full batch */
    sb_status s = batch != t->cap ? sb_tape_set_batch(t, t->cap, err) : SB_OK;
    if (s)
        return s;
    size_t most = 0;
    for (int i = 0; i < t->g->n_nodes; i++) {
        if (t->skip[i])
            continue;
        size_t need = sb_train_op_work(t, i, threads);
        most = need > most ? need : most;
    }
    if (batch != t->cap && (s = sb_tape_set_batch(t, batch, err)))
        return s;
    free(t->work);
    t->work = alloc_floats(most);
    t->work_floats = most;
    t->threads = threads;
    if (!t->work)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory: training needs %zu MB of workspace",
                            most * 4 >> 20);
    return SB_OK;
}

sb_status sb_tape_new(const sb_graph *src, int cap, const sb_tape_options *opt, sb_tape **out,
                      sb_error *err)
{
    *out = NULL;
    if (cap < 1)
        return sb_error_set(err, SB_ERR_ARG, "the batch must be at least 1");
    if (src->n_inputs < 1 || src->n_inputs > SB_MAX_INPUTS || src->n_outputs < 1)
        return sb_error_set(err, SB_ERR_UNSUPPORTED,
                            "training needs a model with one to %d inputs and an output",
                            SB_MAX_INPUTS);
    sb_tape *t = calloc(1, sizeof *t);
    if (!t)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    t->opt = opt ? *opt : (sb_tape_options){0};
    t->cap = cap;
    sb_status s = SB_OK;
    if (!(t->g = sb_graph_clone(src)))
        s = sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    if (!s)
        s = untie(t->g, t->opt.all_consts, err);
    if (!s)
        s = check_trainable(t->g, err);
    if (!s)
        s = sb_tape_set_batch(t, cap, err);
    sb_graph *g = t->g;
    if (!s) {
        size_t nv = (size_t)g->n_values + 1, nn = (size_t)g->n_nodes + 1;
        t->act = calloc(nv, sizeof *t->act);
        t->grad = calloc(nv, sizeof *t->grad);
        t->own = calloc(nv, sizeof *t->own);
        t->need_grad = calloc(nv, sizeof *t->need_grad);
        t->param_of = malloc(nv * sizeof *t->param_of);
        t->skip = calloc(nn, sizeof *t->skip);
        t->saved = calloc(nn, sizeof *t->saved);
        t->root = malloc(nv * sizeof *t->root);
        t->zeroed = calloc(nv, sizeof *t->zeroed);
        if (!t->act || !t->grad || !t->own || !t->need_grad || !t->param_of || !t->skip ||
            !t->saved || !t->root || !t->zeroed)
            s = sb_error_set(err, SB_ERR_NOMEM, "out of memory");
        for (size_t v = 0; !s && v < nv; v++)
            t->param_of[v] = -1, t->root[v] = (int)v;
    }
    if (!s) {
        /* A model ending in Softmax trains on its input: the loss wants logits. */
        t->logits = g->outputs[0];
        int prod = g->values[t->logits].producer;
        if (prod >= 0 && g->nodes[prod].op == SB_OP_SOFTMAX && g->values[t->logits].consumers <= 1) {
            t->skip[prod] = true;
            t->logits = g->nodes[prod].in[0];
        }
        if (g->values[t->logits].kind != SB_VAL_ACT)
            s = sb_error_set(err, SB_ERR_UNSUPPORTED, "the model's output is not computed");
    }
    if (!s)
        s = collect_params(t, err);
    if (!s) {
        mark_need_grad(t);
        s = alloc_values(t, err);
    }
    if (!s)
        s = ensure_work(t, err);
    if (s) {
        sb_tape_free(t);
        return s;
    }
    *out = t;
    return SB_OK;
}

sb_status sb_tape_forward(sb_tape *t, sb_error *err)
{
    sb_status s = ensure_work(t, err); /* more threads than at creation: a larger workspace */
    if (s)
        return s;
    for (int i = 0; i < t->g->n_nodes; i++)
        if (!t->skip[i])
            sb_train_op_forward(t, i);
    return SB_OK;
}

/* Activation gradients are zeroed lazily, just before the first op of the backward sweep adds
 * into them (their buffers are then hot in cache); `zeroed` is kept per buffer owner. */
static void zero_value_grad(sb_tape *t, int v)
{
    int r = t->root[v];
    if (t->zeroed[r] || !t->grad[r])
        return;
    memset(t->grad[r], 0, (size_t)sb_tape_count(t, r) * sizeof(float));
    t->zeroed[r] = true;
}

void sb_tape_zero_grad(sb_tape *t)
{
    memset(t->zeroed, 0, (size_t)t->g->n_values * sizeof *t->zeroed);
    for (int k = 0; k < t->n_params; k++)
        memset(t->params[k].grad, 0, (size_t)t->params[k].n * sizeof(float));
    zero_value_grad(t, t->logits);
}

void sb_tape_backward(sb_tape *t)
{
    const sb_graph *g = t->g;
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        const sb_node *n = &g->nodes[i];
        if (t->skip[i] || n->out[0] < 0 || !t->need_grad[n->out[0]] || !t->grad[n->out[0]])
            continue;
        zero_value_grad(t, n->out[0]); /* nothing reached it: its gradient is zero */
        for (int j = 0; j < n->n_in; j++)
            if (n->in[j] >= 0 && t->need_grad[n->in[j]] && t->param_of[n->in[j]] < 0)
                zero_value_grad(t, n->in[j]);
        sb_train_op_backward(t, i);
    }
    for (int i = 0; i < g->n_inputs; i++) /* inputs no op reached */
        if (t->need_grad[g->inputs[i]])
            zero_value_grad(t, g->inputs[i]);
}
