/* Internal: a Plan is a graph compiled for one batch size — kernels chosen per node, BatchNorm
 * folded into the preceding Conv, activations fused, and one arena of activation buffers reused
 * by liveness. Running a plan allocates nothing. */
#ifndef SB_PLAN_H
#define SB_PLAN_H

#include "graph.h"

#define SB_MAX_INPUTS 16
#define SB_MAX_FUSED 4
/* Memory budget of one plan (activation arena + conv workspace), checked before allocating. */
#define SB_PLAN_MAX_BYTES ((size_t)4 << 30)

typedef enum { SB_STEP_NODE = 0, SB_STEP_ALIAS } sb_step_kind;

typedef struct sb_step {
    int node;         /* graph node this step runs */
    sb_step_kind kind;
    sb_act act;       /* fused activation (Conv, Gemm) */
    int out_value;    /* value the step writes (after fusion: the last fused node's output) */
    float *weight;    /* Conv/Gemm weights with BatchNorm folded in, owned; NULL: the graph's */
    float *bias;      /* owned when folded or broadcast; NULL: the graph's (or none) */
    sb_window win;    /* window with pads resolved for this batch's input size */
    float clip_min, clip_max;
    struct sb_qstep *q; /* int8 execution or kernel label (qplan.h), owned; NULL: f32 */
    struct sb_csr *csr; /* sparse weights when the step runs the sparse kernel (plan_kernel.c) */
    float *packed;    /* constant Conv weights in the GEMM micro-kernels' layout, owned, or NULL */
    int fused[SB_MAX_FUSED]; /* later nodes folded into this step (BN, activation, Mul) */
    int n_fused;
} sb_step;

typedef struct sb_plan {
    const sb_graph *g;
    int batch;
    sb_shape *shapes;  /* per value, for this batch */
    int *buffer_of;    /* per value: arena slot, -1 for consts */
    size_t *offset;    /* per arena slot: float offset into the arena */
    int n_slots;
    float *arena;
    size_t arena_floats;
    float *scratch;    /* conv im2col workspace */
    size_t scratch_floats;
    sb_step *steps;
    int n_steps;
    int threads;
    bool packs_borrowed; /* steps' packed weights belong to another plan (sb_plan_borrow_packs) */
} sb_plan;

/* Builds a plan for `batch` images (the graph's shapes are re-inferred); batch 0 plans the
 * shapes as declared, with a symbolic batch taken as 1. */
sb_status sb_plan_new(sb_graph *g, int batch, sb_plan **out, sb_error *err);
/* Builds a plan for explicit input shapes (all dimensions known). */
sb_status sb_plan_new_shapes(sb_graph *g, const sb_shape *inputs, sb_plan **out, sb_error *err);
void sb_plan_free(sb_plan *p);
/* Makes p use donor's packed weights (same graph, any batch: the packing depends on the weights
 * only) and frees its own; donor must outlive p. */
void sb_plan_borrow_packs(sb_plan *p, const sb_plan *donor);
/* Pointer to value v's storage in the plan (activations) or the graph (constants). */
float *sb_plan_value(const sb_plan *p, int v);
/* Runs the plan; inputs must already be written to sb_plan_value(p, g->inputs[i]).
 * `cancel` (optional) is checked between steps. */
sb_status sb_plan_run(sb_plan *p, const volatile int *cancel, sb_error *err);

/* Runs steps [from, to) only: the values live at step `from` must already hold their data
 * (activation caching resumes a model part-way). */
sb_status sb_plan_run_steps(sb_plan *p, int from, int to, const volatile int *cancel,
                            sb_error *err);

/* Runs the plan, calling `before` ahead of each step (its inputs are live then). */
typedef void (*sb_step_observer)(const sb_plan *p, int step, void *user);
sb_status sb_plan_run_observed(sb_plan *p, const volatile int *cancel, sb_step_observer before,
                               void *user, sb_error *err);

/* plan_kernel.c: picks dense or sparse kernels for the Conv/Gemm steps (may raise
 * scratch_floats); the kernel's name ("f32", "sparse-csr", "int8-vnni", ...) per step. */
sb_status sb_plan_choose_kernels(sb_plan *p, sb_error *err);
void sb_plan_step_kernel_free(sb_step *st);
/* Kernel name of a step running a Conv/Gemm/MatMul ("f32", "sparse-csr", "f32-dq", "int8-*"),
 * else NULL. */
const char *sb_step_kernel(const sb_plan *p, const sb_step *st);
/* The step running graph node `node`, or -1. */
int sb_plan_step_of_node(const sb_plan *p, int node);

/* ops.c: executes one step. */
void sb_op_run(const sb_plan *p, const sb_step *st);
sb_conv_geom sb_step_conv_geom(const sb_plan *p, const sb_step *st);

#endif
