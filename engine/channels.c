/* Channel dependency groups for structured pruning, after the idea of DepGraph: follow each
 * channel through the ops that keep it (activations, BatchNorm, pooling, Add/Mul, Concat,
 * depthwise convs, Flatten) and union the channels that must go together. Pruning a unit removes
 * that channel from every tensor and every weight that touches it. */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct chan_ctx {
    const sb_graph *g;
    const sb_shape *shapes;   /* batch-1 plan shapes */
    sb_channels *c;
    int *parent;              /* element union-find */
    char **block;             /* per element: why it cannot be pruned (static strings), or NULL */
    int *vparent;             /* value union-find, to gather classes into groups */
} chan_ctx;

static int find(int *parent, int x)
{
    while (parent[x] != x)
        x = parent[x] = parent[parent[x]];
    return x;
}

static void unite(int *parent, int a, int b)
{
    a = find(parent, a), b = find(parent, b);
    if (a != b)
        parent[a < b ? b : a] = a < b ? a : b; /* the lower element stays root: stable order */
}

static int elem(const chan_ctx *x, int v, int ch) { return x->c->elem_off[v] + ch; }
static bool has_chan(const chan_ctx *x, int v) { return v >= 0 && x->c->elem_off[v] >= 0; }

static void link_elems(chan_ctx *x, int va, int ca, int vb, int cb)
{
    unite(x->parent, elem(x, va, ca), elem(x, vb, cb));
    unite(x->vparent, va, vb);
}

static void block_value(chan_ctx *x, int v, const char *why)
{
    if (!has_chan(x, v))
        return;
    for (int c = 0; c < x->c->nchan[v]; c++)
        if (!x->block[elem(x, v, c)])
            x->block[elem(x, v, c)] = (char *)why;
}

/* in channel c ↔ out channel c, when both have the same channel count. */
static void link_same(chan_ctx *x, int in, int out, const char *why)
{
    if (!has_chan(x, in) || !has_chan(x, out))
        return;
    if (x->c->nchan[in] != x->c->nchan[out]) {
        if (x->c->nchan[in] != 1) { /* a broadcast of one channel couples nothing */
            block_value(x, in, why);
            block_value(x, out, why);
        }
        return;
    }
    for (int c = 0; c < x->c->nchan[in]; c++)
        link_elems(x, in, c, out, c);
}

/* Flatten [N,C,H,W] → [N,C·H·W]: feature f belongs to channel f / (H·W). */
static void link_flatten(chan_ctx *x, int in, int out)
{
    const sb_shape *s = &x->shapes[in];
    int64_t per = s->rank >= 2 ? sb_shape_count(s) / (s->dim[0] * s->dim[1]) : 0;
    if (!has_chan(x, in) || !has_chan(x, out) || per <= 0 ||
        x->c->nchan[out] != x->c->nchan[in] * per) {
        block_value(x, in, "it is reshaped in a way slimbench cannot follow");
        block_value(x, out, "it is reshaped in a way slimbench cannot follow");
        return;
    }
    for (int f = 0; f < x->c->nchan[out]; f++)
        link_elems(x, in, (int)(f / per), out, f);
}

static void link_concat(chan_ctx *x, const sb_node *n)
{
    int out = n->out[0];
    int axis = n->a.axis < 0 ? n->a.axis + x->shapes[out].rank : n->a.axis;
    if (axis != 1) {
        for (int i = 0; i < n->n_in; i++)
            link_same(x, n->in[i], out, "it passes through a Concat");
        return;
    }
    int at = 0;
    for (int i = 0; i < n->n_in; i++) {
        int v = n->in[i];
        if (!has_chan(x, v)) /* a constant slab: its channels stay */
            continue;
        for (int c = 0; c < x->c->nchan[v]; c++)
            link_elems(x, v, c, out, at + c);
        at += x->c->nchan[v];
    }
}

static bool flatten_like_reshape(const chan_ctx *x, const sb_node *n)
{
    const sb_shape *in = &x->shapes[n->in[0]], *out = &x->shapes[n->out[0]];
    return out->rank == 2 && in->rank >= 2 && out->dim[0] == in->dim[0];
}

static void link_conv(chan_ctx *x, const sb_node *n)
{
    int in = n->in[0], out = n->out[0];
    int cin = has_chan(x, in) ? x->c->nchan[in] : 0, cout = x->c->nchan[out];
    if (n->a.win.group == 1)
        return; /* a new channel space: inputs are consumed, outputs produced */
    if (n->a.win.group == cin && cin == cout) {
        link_same(x, in, out, "");
        return;
    }
    block_value(x, in, "it feeds a grouped convolution");
    block_value(x, out, "it comes from a grouped convolution");
}

static void link_node(chan_ctx *x, const sb_node *n)
{
    int out = n->out[0];
    switch (n->op) {
    case SB_OP_CONV:
        link_conv(x, n);
        break;
    case SB_OP_GEMM:
    case SB_OP_MATMUL:
        if (!sb_value_f32(x->g, n->in[1]) || (n->op == SB_OP_GEMM && n->a.gemm.trans_a)) {
            block_value(x, n->in[0], "it feeds a matrix product without constant weights");
            block_value(x, out, "it comes from a matrix product without constant weights");
        }
        break;
    case SB_OP_ADD:
    case SB_OP_MUL:
        for (int i = 0; i < 2; i++)
            if (x->shapes[n->in[i]].rank == x->shapes[out].rank)
                link_same(x, n->in[i], out, "it is broadcast against another tensor");
        break;
    case SB_OP_CONCAT:
        link_concat(x, n);
        break;
    case SB_OP_FLATTEN:
        if (n->a.axis == 1 || x->shapes[n->in[0]].rank == 2)
            link_flatten(x, n->in[0], out);
        else
            block_value(x, n->in[0], "it is flattened on another axis");
        break;
    case SB_OP_RESHAPE:
        if (flatten_like_reshape(x, n))
            link_flatten(x, n->in[0], out);
        else
            block_value(x, n->in[0], "it is reshaped in a way slimbench cannot follow");
        break;
    case SB_OP_SOFTMAX: {
        int axis = n->a.axis < 0 ? n->a.axis + x->shapes[out].rank : n->a.axis;
        if (axis == 1 || x->g->opset < 13)
            block_value(x, n->in[0], "a Softmax normalises over it");
        else
            link_same(x, n->in[0], out, "");
        break;
    }
    default: /* activations, BatchNorm, pooling, Identity, Dropout: channel c stays c */
        link_same(x, n->in[0], out, "");
        break;
    }
}

static sb_status alloc_elements(chan_ctx *x, sb_error *err)
{
    const sb_graph *g = x->g;
    sb_channels *c = x->c;
    c->elem_off = malloc(((size_t)g->n_values + 1) * sizeof *c->elem_off);
    c->nchan = calloc((size_t)g->n_values + 1, sizeof *c->nchan);
    x->vparent = malloc(((size_t)g->n_values + 1) * sizeof *x->vparent);
    if (!c->elem_off || !c->nchan || !x->vparent)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    for (int v = 0; v < g->n_values; v++) {
        const sb_shape *s = &x->shapes[v];
        bool act = g->values[v].kind != SB_VAL_CONST && s->rank >= 2 && s->dim[1] > 0;
        c->elem_off[v] = act ? c->n_elems : -1;
        c->nchan[v] = act ? (int)s->dim[1] : 0;
        c->n_elems += c->nchan[v];
        x->vparent[v] = v;
    }
    x->parent = malloc(((size_t)c->n_elems + 1) * sizeof *x->parent);
    x->block = calloc((size_t)c->n_elems + 1, sizeof *x->block);
    c->root = malloc(((size_t)c->n_elems + 1) * sizeof *c->root);
    if (!x->parent || !x->block || !c->root)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    for (int e = 0; e < c->n_elems; e++)
        x->parent[e] = e;
    return SB_OK;
}

/* Gathers each value component that holds a layer's output into a group of units. */
static sb_status make_groups(chan_ctx *x, const sb_model *m, sb_error *err);

static void propagate_blocks(chan_ctx *x)
{
    sb_channels *c = x->c;
    for (int e = 0; e < c->n_elems; e++) {
        c->root[e] = find(x->parent, e);
        if (x->block[e] && !x->block[c->root[e]])
            x->block[c->root[e]] = x->block[e];
    }
}

sb_status sb_channels_build(sb_model *m, sb_error *err)
{
    chan_ctx x = {.g = m->g, .shapes = m->plan1->shapes};
    sb_status s;
    m->chan = x.c = calloc(1, sizeof *x.c);
    if (!x.c)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    if (!(s = alloc_elements(&x, err))) {
        for (int i = 0; i < m->g->n_inputs; i++)
            block_value(&x, m->g->inputs[i], "they are the model's input channels");
        for (int i = 0; i < m->g->n_nodes; i++)
            link_node(&x, &m->g->nodes[i]);
        for (int i = 0; i < m->g->n_outputs; i++)
            block_value(&x, m->g->outputs[i], "they reach the model's output");
        propagate_blocks(&x);
        s = make_groups(&x, m, err);
    }
    free(x.parent);
    free(x.block);
    free(x.vparent);
    return s;
}

/* ---- groups ---- */

static int add_unit(sb_group *gr, int root, int cap)
{
    for (int u = 0; u < gr->n_units; u++)
        if (gr->unit_root[u] == root)
            return u;
    if (gr->n_units >= cap)
        return -1;
    gr->unit_root[gr->n_units] = root;
    return gr->n_units++;
}

static void add_member(sb_group *gr, int layer)
{
    for (int i = 0; i < gr->n_members; i++)
        if (gr->members[i] == layer)
            return;
    gr->members[gr->n_members++] = layer;
}

/* Units in the order of the first producing layer's channels, then any others. */
static sb_status fill_group(chan_ctx *x, const sb_model *m, int vroot, sb_group *gr,
                            sb_error *err)
{
    const sb_channels *c = x->c;
    int cap = 0;
    for (int v = 0; v < m->g->n_values; v++)
        if (has_chan(x, v) && find(x->vparent, v) == vroot)
            cap += c->nchan[v];
    gr->unit_root = malloc(((size_t)cap + 1) * sizeof *gr->unit_root);
    gr->importance = calloc((size_t)cap + 1, sizeof *gr->importance);
    gr->members = malloc(((size_t)m->n_layers * 2 + 1) * sizeof *gr->members);
    if (!gr->unit_root || !gr->importance || !gr->members)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    gr->prunable = true;
    for (int l = 0; l < m->n_layers; l++) {
        const sb_node *n = &m->g->nodes[m->layers[l].node];
        int out = n->out[0], in = n->in[0];
        if (has_chan(x, out) && find(x->vparent, out) == vroot) {
            add_member(gr, l);
            for (int ch = 0; ch < c->nchan[out]; ch++) {
                int u = add_unit(gr, c->root[elem(x, out, ch)], cap);
                gr->importance[u] += m->layers[l].l1[ch];
            }
        }
        if (has_chan(x, in) && find(x->vparent, in) == vroot)
            add_member(gr, l); /* a consumer: its input channels shrink */
    }
    for (int v = 0; v < m->g->n_values; v++) {
        if (!has_chan(x, v) || find(x->vparent, v) != vroot)
            continue;
        for (int ch = 0; ch < c->nchan[v]; ch++) {
            int e = elem(x, v, ch);
            add_unit(gr, c->root[e], cap);
            if (x->block[c->root[e]] && gr->prunable) {
                gr->prunable = false;
                snprintf(gr->why_not, sizeof gr->why_not, "%s", x->block[c->root[e]]);
            }
        }
    }
    return SB_OK;
}

static sb_status make_groups(chan_ctx *x, const sb_model *m, sb_error *err)
{
    sb_channels *c = x->c;
    c->group_of_layer = malloc(((size_t)m->n_layers + 1) * sizeof *c->group_of_layer);
    c->groups = calloc((size_t)m->n_layers + 1, sizeof *c->groups);
    if (!c->group_of_layer || !c->groups)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    for (int l = 0; l < m->n_layers; l++) {
        int out = m->g->nodes[m->layers[l].node].out[0];
        c->group_of_layer[l] = -1;
        if (!has_chan(x, out))
            continue;
        int vroot = find(x->vparent, out);
        for (int k = 0; k < l && c->group_of_layer[l] < 0; k++) {
            int o = m->g->nodes[m->layers[k].node].out[0];
            if (has_chan(x, o) && find(x->vparent, o) == vroot)
                c->group_of_layer[l] = c->group_of_layer[k];
        }
        if (c->group_of_layer[l] >= 0)
            continue;
        c->group_of_layer[l] = c->n_groups;
        sb_status s = fill_group(x, m, vroot, &c->groups[c->n_groups++], err);
        if (s)
            return s;
    }
    return SB_OK;
}

void sb_channels_free(sb_channels *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n_groups; i++) {
        free(c->groups[i].unit_root);
        free(c->groups[i].importance);
        free(c->groups[i].members);
    }
    free(c->groups);
    free(c->group_of_layer);
    free(c->elem_off);
    free(c->nchan);
    free(c->root);
    free(c);
}

int sb_model_layer_group(const sb_model *m, int layer)
{
    if (!m->chan || layer < 0 || layer >= m->n_layers)
        return -1;
    return m->chan->group_of_layer[layer];
}

int sb_model_num_groups(const sb_model *m) { return m->chan ? m->chan->n_groups : 0; }

sb_status sb_model_group(const sb_model *m, int group, sb_group_info *info)
{
    if (!m->chan || group < 0 || group >= m->chan->n_groups)
        return SB_ERR_ARG;
    const sb_group *g = &m->chan->groups[group];
    *info = (sb_group_info){.channels = g->n_units, .n_members = g->n_members,
                            .members = g->members, .prunable = g->prunable,
                            .why_not = g->prunable ? NULL : g->why_not};
    return SB_OK;
}

const double *sb_model_group_importance(const sb_model *m, int group)
{
    if (!m->chan || group < 0 || group >= m->chan->n_groups)
        return NULL;
    return m->chan->groups[group].importance;
}

/* ---- removing (or zeroing) units ---- */

typedef struct prune_ctx {
    const sb_model *m;
    sb_graph *g;
    bool *dropped_root; /* per element: its class is removed */
    bool thin;
} prune_ctx;

/* Which channels of activation v go, or NULL when v has no channel axis. */
static bool *drop_list(const prune_ctx *p, int v, int *n_drop)
{
    const sb_channels *c = p->m->chan;
    *n_drop = 0;
    if (v < 0 || c->elem_off[v] < 0)
        return NULL;
    bool *d = calloc((size_t)c->nchan[v] + 1, 1);
    for (int ch = 0; d && ch < c->nchan[v]; ch++)
        *n_drop += d[ch] = p->dropped_root[c->root[c->elem_off[v] + ch]];
    return d;
}

/* Removes the indices marked in drop along `axis` of constant tensor v. */
static sb_status remove_slices(sb_value *v, int axis, const bool *drop, sb_error *err)
{
    sb_shape s = v->shape;
    int64_t outer = 1, inner = 1, n = s.dim[axis], keep = 0;
    for (int i = 0; i < s.rank; i++)
        *(i < axis ? &outer : i > axis ? &inner : &(int64_t){0}) *= s.dim[i];
    for (int64_t i = 0; i < n; i++)
        keep += !drop[i];
    size_t esz = v->dtype == SB_F32 ? 4 : 8;
    char *dst = malloc((size_t)(outer * keep * inner) * esz + 1), *src = v->data;
    if (!dst)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory thinning '%s'", v->name);
    char *at = dst;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < n; i++)
            if (!drop[i]) {
                memcpy(at, src + (size_t)((o * n + i) * inner) * esz, (size_t)inner * esz);
                at += (size_t)inner * esz;
            }
    free(v->data);
    v->data = dst;
    v->shape.dim[axis] = keep;
    return SB_OK;
}

/* Zeroes the indices marked in drop along `axis` of constant float tensor v. */
static void zero_slices(sb_value *v, int axis, const bool *drop)
{
    int64_t outer = 1, inner = 1, n = v->shape.dim[axis];
    for (int i = 0; i < v->shape.rank; i++)
        *(i < axis ? &outer : i > axis ? &inner : &(int64_t){0}) *= v->shape.dim[i];
    float *d = v->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < n; i++)
            if (drop[i])
                memset(d + (o * n + i) * inner, 0, (size_t)inner * sizeof *d);
}

static sb_status cut(prune_ctx *p, int v, int axis, const bool *drop, int n_drop, sb_error *err)
{
    if (!drop || !n_drop || v < 0 || p->g->values[v].kind != SB_VAL_CONST)
        return SB_OK;
    if (axis < 0 || axis >= p->g->values[v].shape.rank)
        return SB_OK;
    if (p->thin)
        return remove_slices(&p->g->values[v], axis, drop, err);
    zero_slices(&p->g->values[v], axis, drop);
    return SB_OK;
}

static sb_status prune_conv(prune_ctx *p, sb_node *n, const bool *din, int nin,
                            const bool *dout, int nout, sb_error *err)
{
    bool depthwise = n->a.win.group > 1;
    sb_status s = cut(p, n->in[1], 0, dout, nout, err);
    if (!s && n->n_in > 2)
        s = cut(p, n->in[2], 0, dout, nout, err);
    if (!s && p->thin && !depthwise)
        s = cut(p, n->in[1], 1, din, nin, err);
    if (!s && p->thin && depthwise)
        n->a.win.group -= nout;
    return s;
}

static sb_status prune_gemm(prune_ctx *p, sb_node *n, const bool *din, int nin,
                            const bool *dout, int nout, sb_error *err)
{
    bool tb = n->op == SB_OP_GEMM && n->a.gemm.trans_b;
    sb_status s = cut(p, n->in[1], tb ? 0 : 1, dout, nout, err);
    if (!s && p->thin)
        s = cut(p, n->in[1], tb ? 1 : 0, din, nin, err);
    if (!s && n->op == SB_OP_GEMM && n->n_in > 2 && n->in[2] >= 0) {
        sb_value *b = &p->g->values[n->in[2]];
        if (b->kind == SB_VAL_CONST && b->shape.rank >= 1 && dout &&
            b->shape.dim[b->shape.rank - 1] == p->m->chan->nchan[n->out[0]])
            s = cut(p, n->in[2], b->shape.rank - 1, dout, nout, err);
    }
    return s;
}

/* Masking zeroes gamma and beta, so a pruned channel leaves BatchNorm as exactly zero. */
static sb_status prune_bn(prune_ctx *p, sb_node *n, const bool *d, int nd, sb_error *err)
{
    sb_status s = SB_OK;
    for (int i = 1; i < 5 && !s; i++)
        if (p->thin || i <= 2)
            s = cut(p, n->in[i], 0, d, nd, err);
    return s;
}

/* A constant operand of Add/Mul broadcast along the channel axis loses the same channels. */
static sb_status prune_binary(prune_ctx *p, sb_node *n, const bool *dout, int nout, sb_error *err)
{
    const sb_shape *os = &p->m->plan1->shapes[n->out[0]];
    sb_status s = SB_OK;
    for (int i = 0; i < 2 && !s && p->thin; i++) {
        sb_value *v = &p->g->values[n->in[i]];
        int axis = 1 - (os->rank - v->shape.rank);
        if (v->kind == SB_VAL_CONST && axis >= 0 && v->shape.dim[axis] > 1)
            s = cut(p, n->in[i], axis, dout, nout, err);
    }
    return s;
}

static void prune_reshape(prune_ctx *p, sb_node *n, int nout)
{
    sb_value *sv = &p->g->values[n->in[1]];
    if (p->thin && nout && sv->kind == SB_VAL_CONST && sv->shape.dim[0] == 2 &&
        ((int64_t *)sv->data)[1] > 0)
        ((int64_t *)sv->data)[1] -= nout;
}

static sb_status prune_node(prune_ctx *p, int i, sb_error *err)
{
    sb_node *n = &p->g->nodes[i];
    int nin = 0, nout = 0;
    bool *din = n->n_in ? drop_list(p, n->in[0], &nin) : NULL;
    bool *dout = drop_list(p, n->out[0], &nout);
    sb_status s = SB_OK;
    bool layer = n->n_in > 1 && sb_value_f32(p->g, n->in[1]);
    if (n->op == SB_OP_CONV && layer)
        s = prune_conv(p, n, din, nin, dout, nout, err);
    else if ((n->op == SB_OP_GEMM || n->op == SB_OP_MATMUL) && layer)
        s = prune_gemm(p, n, din, nin, dout, nout, err);
    else if (n->op == SB_OP_BATCHNORM)
        s = prune_bn(p, n, din, nin, err);
    else if (n->op == SB_OP_ADD || n->op == SB_OP_MUL)
        s = prune_binary(p, n, dout, nout, err);
    else if (n->op == SB_OP_RESHAPE)
        prune_reshape(p, n, nout);
    free(din);
    free(dout);
    return s;
}

sb_status sb_channels_prune(const sb_model *m, sb_graph *g, bool *const *removed, bool thin,
                            sb_error *err)
{
    const sb_channels *c = m->chan;
    prune_ctx p = {.m = m, .g = g, .thin = thin};
    p.dropped_root = calloc((size_t)c->n_elems + 1, 1);
    if (!p.dropped_root)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    for (int gi = 0; gi < c->n_groups; gi++)
        for (int u = 0; removed[gi] && u < c->groups[gi].n_units; u++)
            if (removed[gi][u])
                p.dropped_root[c->groups[gi].unit_root[u]] = true;
    sb_status s = SB_OK;
    for (int i = 0; i < g->n_nodes && !s; i++)
        s = prune_node(&p, i, err);
    free(p.dropped_root);
    return s;
}
