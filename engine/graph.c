/* Graph housekeeping: values, freeing, cloning, and the clean-up passes run after loading. */
#include "graph.h"
#include "par.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>



int sb_graph_find_value(const sb_graph *g, const char *name)
{
    for (int i = 0; i < g->n_values; i++)
        if (strcmp(g->values[i].name, name) == 0)
            return i;
    return -1;
}

int sb_graph_add_value(sb_graph *g, const char *name, sb_value_kind kind)
{
    if (g->n_values == g->cap_values) {
        int cap = g->cap_values ? 2 * g->cap_values : 64;
        sb_value *v = realloc(g->values, (size_t)cap * sizeof *v);
        if (!v)
            return -1;
        g->values = v;
        g->cap_values = cap;
    }
    sb_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->name = strdup(name);
    if (!v->name)
        return -1;
    v->kind = kind;
    v->producer = -1;
    return g->n_values++;
}

void sb_graph_free(sb_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_values; i++) {
        free(g->values[i].name);
        free(g->values[i].data);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        free(g->nodes[i].name);
        free(g->nodes[i].in);
        free(g->nodes[i].out);
    }
    for (int i = 0; i < g->n_meta; i++) {
        free(g->meta[i].key);
        free(g->meta[i].value);
    }
    free(g->values);
    free(g->nodes);
    free(g->inputs);
    free(g->input_decl);
    free(g->outputs);
    free(g->meta);
    free(g);
}

int sb_graph_find_node(const sb_graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i].name, name) == 0)
            return i;
    return -1;
}

static size_t dtype_size(sb_dtype dt) { return dt == SB_F32 ? 4 : 8; }

static void *copy_data(const sb_value *v)
{
    size_t bytes = (size_t)sb_shape_count(&v->shape) * dtype_size(v->dtype);
    void *p = malloc(bytes + 1);
    if (p)
        memcpy(p, v->data, bytes);
    return p;
}

/* Turns value `dst` into a constant holding a copy of constant `src`. */
static sb_status make_const_copy(sb_graph *g, int dst, int src, sb_error *err)
{
    void *data = copy_data(&g->values[src]);
    if (!data)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory copying '%s'", g->values[src].name);
    sb_value *d = &g->values[dst];
    d->kind = SB_VAL_CONST;
    d->dtype = g->values[src].dtype;
    d->shape = g->values[src].shape;
    d->data = data;
    d->producer = -1;
    return SB_OK;
}

static void remove_node(sb_graph *g, int i)
{
    free(g->nodes[i].name);
    free(g->nodes[i].in);
    free(g->nodes[i].out);
    memmove(&g->nodes[i], &g->nodes[i + 1], (size_t)(g->n_nodes - i - 1) * sizeof g->nodes[0]);
    g->n_nodes--;
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].producer > i)
            g->values[v].producer--;
}

static bool is_layer_weight_slot(const sb_node *n, int input)
{
    return input == 1 && (n->op == SB_OP_CONV || n->op == SB_OP_GEMM || n->op == SB_OP_MATMUL);
}

/* A layer's weight used elsewhere too gets its own copy, named after the layer. */
static sb_status own_weights(sb_graph *g, sb_error *err)
{
    int *uses = calloc((size_t)g->n_values + 1, sizeof *uses);
    if (!uses)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    sb_status s = SB_OK;
    for (int i = 0; i < g->n_nodes && !s; i++) {
        sb_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_in && !s; j++) {
            int v = n->in[j];
            if (v < 0 || g->values[v].kind != SB_VAL_CONST || uses[v]++ == 0 ||
                !is_layer_weight_slot(n, j))
                continue;
            char name[512];
            snprintf(name, sizeof name, "%s@%s", g->values[v].name, n->name);
            int copy = sb_graph_add_value(g, name, SB_VAL_CONST);
            if (copy < 0) {
                s = sb_error_set(err, SB_ERR_NOMEM, "out of memory");
                break;
            }
            int *grown = realloc(uses, (size_t)g->n_values * sizeof *uses);
            if (!grown) {
                s = sb_error_set(err, SB_ERR_NOMEM, "out of memory");
                break;
            }
            uses = grown;
            uses[copy] = 1;
            if (!(s = make_const_copy(g, copy, v, err)))
                n->in[j] = copy;
        }
    }
    free(uses);
    return s;
}

sb_status sb_graph_fold_identities(sb_graph *g, sb_error *err)
{
    for (int i = 0; i < g->n_nodes;) {
        sb_node *n = &g->nodes[i];
        bool passthrough = n->op == SB_OP_IDENTITY || n->op == SB_OP_DROPOUT;
        if (!passthrough || n->n_in < 1 || n->in[0] < 0 ||
            g->values[n->in[0]].kind != SB_VAL_CONST || n->out[0] < 0) {
            i++;
            continue;
        }
        sb_status s = make_const_copy(g, n->out[0], n->in[0], err);
        if (s)
            return s;
        remove_node(g, i);
    }
    return own_weights(g, err);
}

sb_conv_geom sb_conv_geometry(const sb_shape *x, const sb_shape *y, const sb_window *w)
{
    bool one_d = w->spatial == 1;
    return (sb_conv_geom){
        .C = (int)x->dim[1], .H = one_d ? 1 : (int)x->dim[2], .W = (int)x->dim[x->rank - 1],
        .M = (int)y->dim[1], .OH = one_d ? 1 : (int)y->dim[2], .OW = (int)y->dim[y->rank - 1],
        .kh = w->kernel[0], .kw = w->kernel[1], .sh = w->stride[0], .sw = w->stride[1],
        .dh = w->dilation[0], .dw = w->dilation[1], .pt = w->pad_begin[0], .pl = w->pad_begin[1],
        .group = w->group};
}

/* Sum of n floats as GAP_LANES interleaved partial sums, then their pairwise tree: independent
 * chains (one vector add per step) instead of one long dependent chain; the order depends on n
 * only. */
#define GAP_LANES 16
static float plane_sum(const float *x, int64_t n)
{
    float acc[GAP_LANES] = {0};
    int64_t i = 0;
    for (; i + GAP_LANES <= n; i += GAP_LANES)
        for (int j = 0; j < GAP_LANES; j++)
            acc[j] += x[i + j];
    for (int j = 0; i < n; i++, j++)
        acc[j] += x[i];
    for (int w = GAP_LANES / 2; w >= 1; w /= 2)
        for (int j = 0; j < w; j++)
            acc[j] += acc[j + w];
    return acc[0];
}

void sb_global_avgpool(const float *x, int64_t planes, int64_t size, float *y)
{
    SB_FOR(sb_fork((double)planes * size, 32768), int64_t, p, planes,
           y[p] = plane_sum(x + p * size, size) / (float)size;);
}

int sb_graph_insert_before(sb_graph *g, int before, int slot, sb_op op, const char *name)
{
    sb_node *nodes = realloc(g->nodes, ((size_t)g->n_nodes + 2) * sizeof *nodes);
    if (!nodes)
        return -1;
    g->nodes = nodes;
    char vname[600];
    snprintf(vname, sizeof vname, "%s:out", name);
    int v = sb_graph_add_value(g, vname, SB_VAL_ACT);
    sb_node n = {.name = strdup(name), .op = op, .n_in = 1, .n_out = 1,
                 .in = malloc(2 * sizeof(int)), .out = malloc(2 * sizeof(int))};
    if (v < 0 || !n.name || !n.in || !n.out) {
        free(n.name), free(n.in), free(n.out);
        return -1;
    }
    n.in[0] = g->nodes[before].in[slot];
    n.out[0] = v;
    memmove(&g->nodes[before + 1], &g->nodes[before],
            (size_t)(g->n_nodes - before) * sizeof *g->nodes);
    g->nodes[before] = n;
    g->n_nodes++;
    g->nodes[before + 1].in[slot] = v;
    for (int i = 0; i < g->n_values; i++)
        if (g->values[i].producer >= before)
            g->values[i].producer++;
    g->values[v].producer = before;
    g->values[v].consumers = 1;
    return before;
}

sb_graph *sb_graph_clone(const sb_graph *g)
{
    sb_graph *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    *c = *g;
    c->values = calloc((size_t)g->cap_values + 1, sizeof *c->values);
    c->nodes = calloc((size_t)g->n_nodes + 1, sizeof *c->nodes);
    c->inputs = malloc(((size_t)g->n_inputs + 1) * sizeof *c->inputs);
    c->input_decl = malloc(((size_t)g->n_inputs + 1) * sizeof *c->input_decl);
    c->outputs = malloc(((size_t)g->n_outputs + 1) * sizeof *c->outputs);
    c->meta = calloc((size_t)g->n_meta + 1, sizeof *c->meta);
    c->n_values = c->n_nodes = c->n_meta = 0;
    bool ok = c->values && c->nodes && c->inputs && c->input_decl && c->outputs && c->meta;
    for (int i = 0; ok && i < g->n_values; i++, c->n_values++) {
        c->values[i] = g->values[i];
        c->values[i].data = NULL;
        c->values[i].name = strdup(g->values[i].name);
        ok = c->values[i].name && (!g->values[i].data || (c->values[i].data = copy_data(&g->values[i])));
    }
    for (int i = 0; ok && i < g->n_nodes; i++, c->n_nodes++) {
        const sb_node *n = &g->nodes[i];
        sb_node *m = &c->nodes[i];
        *m = *n;
        m->name = strdup(n->name);
        m->in = malloc(((size_t)n->n_in + 1) * sizeof *m->in);
        m->out = malloc(((size_t)n->n_out + 1) * sizeof *m->out);
        ok = m->name && m->in && m->out;
        if (ok) {
            memcpy(m->in, n->in, (size_t)n->n_in * sizeof *m->in);
            memcpy(m->out, n->out, (size_t)n->n_out * sizeof *m->out);
        }
    }
    for (int i = 0; ok && i < g->n_meta; i++, c->n_meta++) {
        c->meta[i].key = strdup(g->meta[i].key);
        c->meta[i].value = strdup(g->meta[i].value);
        ok = c->meta[i].key && c->meta[i].value;
    }
    if (ok) {
        memcpy(c->inputs, g->inputs, (size_t)g->n_inputs * sizeof *c->inputs);
        memcpy(c->input_decl, g->input_decl, (size_t)g->n_inputs * sizeof *c->input_decl);
        memcpy(c->outputs, g->outputs, (size_t)g->n_outputs * sizeof *c->outputs);
        return c;
    }
    sb_graph_free(c);
    return NULL;
}
