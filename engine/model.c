/* The model handle: a loaded graph, its layers (the Conv/Gemm/MatMul nodes a user can compress)
 * with their statistics, and cached plans. One thread uses a model at a time. */
#include "model.h"

#include <omp.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sb_status read_file(const char *path, void **buf, size_t *len, sb_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return sb_error_set(err, SB_ERR_IO, "%s: cannot open: %m", path);
    void *data = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0)
        data = malloc((size_t)size + 1);
    bool ok = data && fread(data, 1, (size_t)size, f) == (size_t)size;
    fclose(f);
    if (!ok) {
        free(data);
        return sb_error_set(err, size < 0 ? SB_ERR_IO : SB_ERR_NOMEM, "%s: cannot read the file",
                            path);
    }
    *buf = data;
    *len = (size_t)size;
    return SB_OK;
}

sb_status sb_model_load(const char *path, sb_model **out, sb_error *err)
{
    void *buf = NULL;
    size_t len = 0;
    *out = NULL;
    sb_status s = read_file(path, &buf, &len, err);
    if (s)
        return s;
    if (len == 0) {
        free(buf);
        return sb_error_set(err, SB_ERR_FORMAT, "%s: the file is empty; expected an ONNX model",
                            path);
    }
    sb_graph *g;
    if ((s = sb_graph_from_onnx_owned(buf, len, path, &g, err)))
        return s;
    return sb_model_from_graph(g, path, out, err);
}

sb_status sb_model_load_mem(const void *buf, size_t len, const char *name, sb_model **out,
                            sb_error *err)
{
    *out = NULL;
    sb_graph *g;
    sb_status s = sb_graph_from_onnx(buf, len, name, &g, err);
    if (s)
        return s;
    return sb_model_from_graph(g, name, out, err);
}

static bool takes_shape_inputs(const sb_graph *g)
{
    for (int i = 0; i < g->n_inputs; i++)
        if (g->values[g->inputs[i]].dtype != SB_F32)
            return true;
    return false;
}

sb_status sb_model_from_graph(sb_graph *g, const char *name, sb_model **out, sb_error *err)
{
    sb_model *m = calloc(1, sizeof *m);
    if (!m || !(m->path = strdup(name))) {
        free(m);
        sb_graph_free(g);
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    }
    m->g = g;
    sb_status s = SB_OK;
    if (!takes_shape_inputs(g)) { /* otherwise plans wait for the inputs' values */
        s = sb_plan_new(g, 0, &m->plan1, err);
        if (!s)
            s = sb_layers_build(m, err);
        if (!s)
            s = sb_channels_build(m, err);
    }
    if (s) {
        sb_error_prefix(err, "%s: ", name);
        sb_model_free(m);
        return s;
    }
    *out = m;
    return SB_OK;
}

void sb_model_free(sb_model *m)
{
    if (!m)
        return;
    sb_plan_free(m->plan1);
    sb_plan_free(m->plan_n);
    sb_plan_free(m->plan_run);
    sb_layers_free(m);
    sb_channels_free(m->chan);
    sb_config_free(&m->cfg);
    sb_graph_free(m->g);
    free(m->path);
    free(m);
}

const char *sb_model_path(const sb_model *m) { return m->path; }

const char *sb_model_meta(const sb_model *m, const char *key)
{
    for (int i = 0; i < m->g->n_meta; i++)
        if (strcmp(m->g->meta[i].key, key) == 0)
            return m->g->meta[i].value;
    return NULL;
}

sb_shape sb_model_input_shape(const sb_model *m) { return m->g->declared_input; }
int sb_model_num_outputs(const sb_model *m) { return m->g->n_outputs; }

/* A plan for `batch`, rebuilt only when the batch size changes. */
sb_status sb_model_plan(sb_model *m, int batch, sb_plan **out, sb_error *err)
{
    if (!m->plan1)
        return sb_error_set(err, SB_ERR_UNSUPPORTED,
                            "the model takes shape tensors as inputs and can only be run with "
                            "explicit inputs");
    /* Scratch is sized for the thread count at build time: more threads need a new plan. */
    const int threads = omp_get_max_threads();
    if (batch == m->plan1->batch) {
        if (m->plan1->threads < threads) {
            sb_plan *p;
            sb_status s = sb_plan_new(m->g, 0, &p, err);
            if (s)
                return s;
            sb_plan_free(m->plan1);
            m->plan1 = p;
        }
        *out = m->plan1;
        return SB_OK;
    }
    if (!m->plan_n || m->plan_n->batch != batch || m->plan_n->threads < threads) {
        sb_plan_free(m->plan_n);
        m->plan_n = NULL;
        sb_status s = sb_plan_new(m->g, batch, &m->plan_n, err);
        if (s)
            return s;
    }
    *out = m->plan_n;
    return SB_OK;
}

static bool same_shapes(const sb_plan *p, const sb_tensor *in, int n)
{
    for (int i = 0; i < n; i++) {
        const sb_shape *a = &p->shapes[p->g->inputs[i]], *b = &in[i].shape;
        if (a->rank != b->rank || memcmp(a->dim, b->dim, (size_t)a->rank * sizeof a->dim[0]))
            return false;
    }
    return true;
}

static sb_status check_inputs(const sb_model *m, int n_in, const sb_tensor *in, sb_error *err)
{
    if (n_in != m->g->n_inputs)
        return sb_error_set(err, SB_ERR_ARG, "the model takes %d inputs, %d given",
                            m->g->n_inputs, n_in);
    for (int i = 0; i < n_in; i++) {
        const sb_value *v = &m->g->values[m->g->inputs[i]];
        if (in[i].dtype != v->dtype)
            return sb_error_set(err, SB_ERR_ARG, "input '%s' has the wrong element type",
                                v->name);
    }
    return SB_OK;
}

/* int64 inputs (a Reshape's target shape fed at run time) are read during planning, so they
 * are bound as the inputs' data and force a new plan. Returns true when there were any. */
static bool bind_shape_inputs(sb_model *m, const sb_tensor *in)
{
    bool any = false;
    for (int i = 0; i < m->g->n_inputs; i++) {
        sb_value *v = &m->g->values[m->g->inputs[i]];
        if (v->dtype != SB_I64)
            continue;
        free(v->data);
        size_t bytes = (size_t)sb_shape_count(&in[i].shape) * sizeof(int64_t);
        v->data = malloc(bytes + 1);
        if (v->data)
            memcpy(v->data, in[i].data, bytes);
        v->shape = in[i].shape;
        any = true;
    }
    return any;
}

sb_status sb_model_run(sb_model *m, int n_in, const sb_tensor *in, int n_out, sb_tensor *out,
                       sb_error *err)
{
    sb_status s = check_inputs(m, n_in, in, err);
    if (s)
        return s;
    bool rebind = bind_shape_inputs(m, in);
    if (!m->plan_run || !same_shapes(m->plan_run, in, n_in) || rebind ||
        m->plan_run->threads < omp_get_max_threads()) {
        sb_shape shapes[SB_MAX_INPUTS];
        for (int i = 0; i < n_in && i < SB_MAX_INPUTS; i++)
            shapes[i] = in[i].shape;
        sb_plan_free(m->plan_run);
        m->plan_run = NULL;
        if ((s = sb_plan_new_shapes(m->g, shapes, &m->plan_run, err)))
            return s;
    }
    sb_plan *p = m->plan_run;
    for (int i = 0; i < n_in; i++)
        if (in[i].dtype == SB_F32)
            memcpy(sb_plan_value(p, m->g->inputs[i]), in[i].data,
               (size_t)sb_shape_count(&in[i].shape) * sizeof(float));
    if ((s = sb_plan_run(p, NULL, err)))
        return s;
    for (int i = 0; i < n_out && i < m->g->n_outputs; i++) {
        int v = m->g->outputs[i];
        size_t bytes = (size_t)sb_shape_count(&p->shapes[v]) * sizeof(float);
        out[i] = (sb_tensor){.dtype = SB_F32, .shape = p->shapes[v], .data = malloc(bytes + 1)};
        if (!out[i].data)
            return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
        memcpy(out[i].data, sb_plan_value(p, v), bytes);
    }
    return SB_OK;
}
