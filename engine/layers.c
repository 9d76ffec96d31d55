/* The layers a user can compress (Conv, and Gemm/MatMul with constant weights) and their
 * statistics: parameters, MACs per image, exact zeros, per-output-channel L1 norms. */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_layer(const sb_graph *g, const sb_node *n)
{
    if (n->op == SB_OP_CONV)
        return sb_value_f32(g, n->in[1]) != NULL;
    if (n->op == SB_OP_GEMM)
        return sb_value_f32(g, n->in[1]) && !n->a.gemm.trans_a;
    if (n->op == SB_OP_MATMUL)
        return sb_value_f32(g, n->in[1]) && g->values[n->in[1]].shape.rank == 2;
    return false;
}

/* "/layer1/layer1.0/conv1/Conv" → "layer1.0.conv1": each scope either extends the path
 * ("layer1" → "layer1.0") or is a child of it ("conv1"). */
static char *module_path(const char *node_name)
{
    if (node_name[0] != '/')
        return NULL;
    char *path = calloc(strlen(node_name) + 1, 1);
    const char *p = node_name + 1, *slash;
    while (path && (slash = strchr(p, '/'))) { /* the last component is the op itself */
        size_t n = (size_t)(slash - p), have = strlen(path);
        bool extends = have && n > have && strncmp(p, path, have) == 0 && p[have] == '.';
        if (!extends && have)
            strcat(path, ".");
        strncat(extends ? (path[0] = 0, path) : path, p, n);
        p = slash + 1;
    }
    if (path && !*path) {
        free(path);
        return NULL;
    }
    return path;
}

static char *display_name(const sb_graph *g, const sb_node *n, int weight)
{
    const char *w = g->values[weight].name;
    size_t len = strlen(w);
    if (strncmp(w, "onnx::", 6) != 0 && !strchr(w, '@') && len > 7 &&
        strcmp(w + len - 7, ".weight") == 0)
        return strndup(w, len - 7);
    char *path = module_path(n->name);
    return path ? path : strdup(n->name);
}

static void op_label(const sb_node *n, int64_t c_in, char *buf, size_t size)
{
    if (n->op != SB_OP_CONV || n->a.win.group == 1)
        snprintf(buf, size, "%s", sb_op_name(n->op));
    else if (n->a.win.group == c_in)
        snprintf(buf, size, "Conv(dw)");
    else
        snprintf(buf, size, "Conv(g=%d)", n->a.win.group);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* L1 norm per output channel; channel c of a Gemm with transB is row c, else column c. */
static sb_status channel_l1(const sb_graph *g, sb_layer *l, sb_error *err)
{
    const sb_shape *ws = &g->values[l->weight].shape;
    const float *w = sb_value_f32(g, l->weight);
    int64_t total = sb_shape_count(ws);
    l->out_channels = ws->dim[l->out_axis];
    l->l1 = calloc((size_t)l->out_channels + 1, sizeof *l->l1);
    double *sorted = calloc((size_t)l->out_channels + 1, sizeof *sorted);
    if (!l->l1 || !sorted) {
        free(sorted);
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    }
    int64_t cols = ws->rank == 2 ? ws->dim[1] : 1, per = total / (l->out_channels ? l->out_channels : 1);
    for (int64_t i = 0; i < total; i++) {
        int64_t c = l->out_axis == 0 ? i / per : i % cols;
        l->l1[c] += w[i] < 0 ? -(double)w[i] : (double)w[i];
        l->zeros += w[i] == 0.0f;
    }
    memcpy(sorted, l->l1, (size_t)l->out_channels * sizeof *sorted);
    qsort(sorted, (size_t)l->out_channels, sizeof *sorted, cmp_double);
    if (l->out_channels) {
        l->l1_min = sorted[0];
        l->l1_max = sorted[l->out_channels - 1];
        int64_t h = l->out_channels / 2;
        l->l1_median = l->out_channels % 2 ? sorted[h] : (sorted[h - 1] + sorted[h]) / 2;
    }
    free(sorted);
    return SB_OK;
}

static int64_t layer_macs(const sb_plan *p, const sb_node *n)
{
    const sb_shape *y = &p->shapes[n->out[0]];
    const sb_shape *w = &p->g->values[n->in[1]].shape;
    int64_t per_image_out = sb_shape_count(y) / (y->dim[0] ? y->dim[0] : 1);
    if (n->op == SB_OP_CONV)
        return per_image_out * (sb_shape_count(w) / w->dim[0]);
    int64_t k = n->op == SB_OP_GEMM && n->a.gemm.trans_b ? w->dim[1] : w->dim[0];
    return per_image_out * k; /* batch 1: every output element is a K-long dot product */
}

static int following_bn(const sb_graph *g, int node)
{
    int v = g->nodes[node].out[0];
    if (g->values[v].consumers != 1)
        return -1;
    for (int i = node + 1; i < g->n_nodes; i++)
        if (g->nodes[i].n_in > 0 && g->nodes[i].in[0] == v)
            return g->nodes[i].op == SB_OP_BATCHNORM ? i : -1;
    return -1;
}

static sb_status build_layer(sb_model *m, int node, sb_layer *l, sb_error *err)
{
    const sb_graph *g = m->g;
    const sb_node *n = &g->nodes[node];
    memset(l, 0, sizeof *l);
    l->node = node;
    l->weight = n->in[1];
    l->bias = n->op != SB_OP_MATMUL && n->n_in > 2 ? n->in[2] : -1;
    if (l->bias >= 0 && !sb_value_f32(g, l->bias))
        l->bias = -1;
    l->bn_node = n->op == SB_OP_CONV ? following_bn(g, node) : -1;
    l->out_axis = n->op == SB_OP_CONV || (n->op == SB_OP_GEMM && n->a.gemm.trans_b) ? 0 : 1;
    l->out_shape = m->plan1->shapes[n->out[0]];
    l->params = sb_shape_count(&g->values[l->weight].shape) +
                (l->bias >= 0 ? sb_shape_count(&g->values[l->bias].shape) : 0);
    l->macs = layer_macs(m->plan1, n);
    l->name = display_name(g, n, l->weight);
    op_label(n, m->plan1->shapes[n->in[0]].dim[1], l->op, sizeof l->op);
    if (!l->name)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    return channel_l1(g, l, err);
}

sb_status sb_layers_build(sb_model *m, sb_error *err)
{
    m->layers = calloc((size_t)m->g->n_nodes + 1, sizeof *m->layers);
    if (!m->layers)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    for (int i = 0; i < m->g->n_nodes; i++) {
        if (!is_layer(m->g, &m->g->nodes[i]))
            continue;
        sb_status s = build_layer(m, i, &m->layers[m->n_layers], err);
        m->n_layers++;
        if (s)
            return s;
    }
    return SB_OK;
}

void sb_layers_free(sb_model *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        free(m->layers[i].name);
        free(m->layers[i].l1);
    }
    free(m->layers);
}

int sb_model_num_layers(const sb_model *m) { return m->n_layers; }

sb_status sb_model_layer(const sb_model *m, int i, sb_layer_info *info)
{
    if (i < 0 || i >= m->n_layers)
        return SB_ERR_ARG;
    const sb_layer *l = &m->layers[i];
    const sb_graph *g = m->g;
    *info = (sb_layer_info){
        .node = l->node, .name = l->name, .node_name = g->nodes[l->node].name,
        .weight_name = g->values[l->weight].name, .op = l->op,
        .bn_name = l->bn_node >= 0 ? g->nodes[l->bn_node].name : NULL,
        .out_shape = l->out_shape, .params = l->params, .macs = l->macs, .zeros = l->zeros,
        .out_channels = l->out_channels, .l1_min = l->l1_min, .l1_median = l->l1_median,
        .l1_max = l->l1_max};
    return SB_OK;
}

const double *sb_model_layer_l1(const sb_model *m, int i)
{
    return i >= 0 && i < m->n_layers ? m->layers[i].l1 : NULL;
}

static bool matches_weight(const char *weight, const char *name)
{
    size_t n = strlen(name);
    return strcmp(weight, name) == 0 ||
           (strncmp(weight, name, n) == 0 && strcmp(weight + n, ".weight") == 0);
}

int sb_model_find_layer(const sb_model *m, const char *name)
{
    for (int i = 0; i < m->n_layers; i++) {
        const sb_layer *l = &m->layers[i];
        if (strcmp(l->name, name) == 0 || strcmp(m->g->nodes[l->node].name, name) == 0 ||
            matches_weight(m->g->values[l->weight].name, name))
            return i;
    }
    for (int i = 0; i < m->n_layers; i++) { /* "conv2.weight" when the name is "conv2" */
        size_t n = strlen(m->layers[i].name);
        if (strncmp(name, m->layers[i].name, n) == 0 && strcmp(name + n, ".weight") == 0)
            return i;
    }
    return -1;
}

sb_model_totals sb_model_totals_get(const sb_model *m)
{
    sb_model_totals t = {0};
    for (int i = 0; i < m->n_layers; i++) {
        t.params += m->layers[i].params;
        t.macs += m->layers[i].macs;
        t.zeros += m->layers[i].zeros;
    }
    for (int v = 0; v < m->g->n_values; v++)
        if (m->g->values[v].kind == SB_VAL_CONST && m->g->values[v].dtype == SB_F32 &&
            m->g->values[v].consumers > 0)
            t.all_params += sb_shape_count(&m->g->values[v].shape);
    return t;
}
