/* slimbench engine: the public API shared by the command line and the workbench.
 * The engine never prints and never exits: every call returns an sb_status and, on failure,
 * fills an sb_error with a message naming the file, node or line concerned. */
#ifndef SLIMBENCH_H
#define SLIMBENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SB_STATUS_LIST(X)                                                                          \
    X(SB_OK, "ok")                                                                                 \
    X(SB_ERR_IO, "i/o error")                                                                      \
    X(SB_ERR_FORMAT, "malformed file")                                                             \
    X(SB_ERR_UNSUPPORTED, "unsupported")                                                           \
    X(SB_ERR_SHAPE, "shape mismatch")                                                              \
    X(SB_ERR_NOMEM, "out of memory")                                                               \
    X(SB_ERR_ARG, "invalid argument")                                                              \
    X(SB_ERR_CANCELLED, "cancelled")                                                               \
    X(SB_ERR_INTERNAL, "internal error")

typedef enum {
#define SB_X(name, text) name,
    SB_STATUS_LIST(SB_X)
#undef SB_X
} sb_status;

typedef struct sb_error {
    sb_status status;
    char msg[1024]; /* complete sentence(s): what, where, what to do */
} sb_error;

const char *sb_status_str(sb_status s);
/* Records the first error only: later calls keep the original, more specific message. */
sb_status sb_error_set(sb_error *e, sb_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes context ("model.onnx: ") to an error already set. */
void sb_error_prefix(sb_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- tensors handed across the API ---- */
#define SB_MAX_RANK 8
typedef enum { SB_F32 = 0, SB_I64, SB_DTYPE_COUNT } sb_dtype;

typedef struct sb_shape {
    int rank;
    int64_t dim[SB_MAX_RANK];
} sb_shape;

typedef struct sb_tensor {
    sb_dtype dtype;
    sb_shape shape;
    void *data; /* owned by whoever allocated it; see sb_tensor_free */
} sb_tensor;

int64_t sb_shape_count(const sb_shape *s);
void sb_tensor_free(sb_tensor *t);
const char *sb_shape_str(const sb_shape *s, char *buf, size_t n); /* "1x3x224x224" */

/* ---- models ---- */
/* A model is used by one thread at a time: sb_eval, sb_latency_measure and sb_model_run build
 * and reuse plans inside it. Compressing reads the base only, so several threads may compress
 * the same base while none of them runs it. */
typedef struct sb_model sb_model;

sb_status sb_model_load(const char *path, sb_model **out, sb_error *err);
sb_status sb_model_load_mem(const void *buf, size_t len, const char *name, sb_model **out,
                            sb_error *err);
void sb_model_free(sb_model *m);
const char *sb_model_path(const sb_model *m);
/* Value of a metadata_props key, or NULL. */
const char *sb_model_meta(const sb_model *m, const char *key);
/* The declared shape of the first graph input (dim 0 is the batch, possibly symbolic: -1). */
sb_shape sb_model_input_shape(const sb_model *m);
int sb_model_num_outputs(const sb_model *m);

/* Runs the model once on explicit inputs (graph-input order); outputs are allocated
 * and must be released with sb_tensor_free. Used by conformance tests and the CLI. */
sb_status sb_model_run(sb_model *m, int n_in, const sb_tensor *in, int n_out, sb_tensor *out,
                       sb_error *err);

/* ---- per-layer statistics ---- */
typedef struct sb_layer_info {
    int node;                /* node index in the graph */
    const char *name;        /* display name: the PyTorch module path when derivable */
    const char *node_name;   /* ONNX node name */
    const char *weight_name; /* weight initializer name */
    const char *op;          /* "Conv", "Conv(dw)", "Gemm", "MatMul" */
    const char *bn_name;     /* BatchNormalization folded into it for execution, or NULL */
    sb_shape out_shape;      /* per image (batch 1) */
    int64_t params;          /* weights + bias */
    int64_t macs;            /* per image */
    int64_t zeros;           /* weights exactly zero */
    int64_t out_channels;
    double l1_min, l1_median, l1_max; /* per-output-channel L1 norms */
} sb_layer_info;

int sb_model_num_layers(const sb_model *m);
sb_status sb_model_layer(const sb_model *m, int i, sb_layer_info *info);
/* L1 norm per output channel of layer i (len = out_channels), owned by the model. */
const double *sb_model_layer_l1(const sb_model *m, int i);
/* Finds a layer by ONNX node name, module path ("conv2"), or weight name ("conv2.weight"). */
int sb_model_find_layer(const sb_model *m, const char *name);

typedef struct sb_model_totals {
    int64_t params, macs, zeros;
    int64_t all_params; /* every float initializer, BN included */
} sb_model_totals;
sb_model_totals sb_model_totals_get(const sb_model *m);
/* The kernel that runs layer i at batch 1: "f32" (dense), "sparse-csr" (chosen per layer from
 * its fraction of zero weights, plan_kernel.c), "f32-dq" (quantised weights, run
 * dequantised in f32: no activation quantisation), "int8-vnni", "int8-avx2" or "int8-ref";
 * NULL when the model cannot be planned. */
const char *sb_model_layer_kernel(sb_model *m, int i);
/* Layers counted per kernel, e.g. "int8-vnni x9, f32 x1", into buf (empty when unplannable). */
void sb_model_kernel_summary(sb_model *m, char *buf, size_t n);

/* ---- datasets ---- */
typedef struct sb_dataset sb_dataset;

typedef struct sb_preprocess {
    float scale;            /* raw pixel values are divided by this (ToTensor: 255) */
    int n_mean, n_std;      /* 1 (broadcast) or one per channel */
    float mean[4], std[4];
} sb_preprocess;

/* DIR holding Fashion-MNIST-style IDX files (plain or .gz) or NumPy .npy files; split is
 * "test" or "train". Labels are optional. */
sb_status sb_dataset_open(const char *dir, const char *split, sb_dataset **out, sb_error *err);
void sb_dataset_free(sb_dataset *d);
int sb_dataset_count(const sb_dataset *d);
sb_shape sb_dataset_image_shape(const sb_dataset *d); /* C,H,W */
bool sb_dataset_has_labels(const sb_dataset *d);
int sb_dataset_label(const sb_dataset *d, int i);
/* Like sb_dataset_open, but images whose payload exceeds max_resident bytes are not loaded:
 * they are read from the file batch by batch by sb_dataset_read (plain files by offset, gzip by
 * sequential decompression), so an evaluation set larger than memory works. 0 streams always.
 * Labels are always held in memory. */
#define SB_DATASET_RESIDENT_MAX ((size_t)64 << 20)
sb_status sb_dataset_open_streamed(const char *dir, const char *split, size_t max_resident,
                                   sb_dataset **out, sb_error *err);
bool sb_dataset_is_streamed(const sb_dataset *d);
/* Writes images [start, start+count) as float32 NCHW after preprocessing. Works on any dataset;
 * a streamed one may fail (a read error, a file changed since it was opened, a non-finite
 * float), which is reported. Safe to call from several threads on one dataset. */
sb_status sb_dataset_read(const sb_dataset *d, const sb_preprocess *pp, int start, int count,
                          float *out, sb_error *err);
/* The same for datasets held in memory (sb_dataset_open), which cannot fail. */
void sb_dataset_fill(const sb_dataset *d, const sb_preprocess *pp, int start, int count,
                     float *out);
/* Preprocessing from the model's metadata (preprocess.scale/mean/std), else identity. */
sb_status sb_preprocess_from_model(const sb_model *m, sb_preprocess *pp, sb_error *err);
/* Parses "0.485,0.456,0.406" into vals (at most max entries). */
sb_status sb_parse_float_list(const char *s, float *vals, int max, int *n, sb_error *err);

/* ---- evaluation ---- */
/* An activation cache (actcache.c): the base model's activations at a cut point, kept for the
 * images of one eval set, so that evaluating a compressed model of that base runs only the steps
 * from its first changed node onwards for the cached images. See sb_eval_options.cache. */
typedef struct sb_actcache sb_actcache;

typedef struct sb_eval_progress {
    int done, total;      /* images evaluated so far */
    int correct1, correct5, agree;
} sb_eval_progress;

/* Returns true to cancel. Called from the evaluating thread after each batch. */
typedef bool (*sb_progress_fn)(const sb_eval_progress *p, void *user);

typedef struct sb_eval_options {
    int batch;            /* 0: default (64) */
    int limit;            /* 0: all images */
    sb_progress_fn progress;
    void *user;
    const volatile int *cancel; /* optional: non-zero cancels between batches */
    const int *reference;       /* optional: another model's top-1 predictions, for agreement */
    sb_actcache *cache;         /* optional: resume cached images at the first change */
} sb_eval_options;

typedef struct sb_eval_result {
    int images, correct1, correct5;
    int agree;     /* top-1 predictions equal to opt->reference's (when given) */
    double loss;   /* mean cross-entropy (natural log) over labelled images */
    double seconds;
    double cpu_seconds; /* process CPU time (all threads) over the same span as `seconds` */
    int cached;    /* images resumed from opt->cache rather than run from the input */
    int *pred; /* top-1 prediction per image (images entries), owned; free with sb_eval_result_free */
} sb_eval_result;

/* Whether d's images and labels and pp fit m, with the reason when not. */
sb_status sb_eval_check(const sb_model *m, const sb_dataset *d, const sb_preprocess *pp,
                        sb_error *err);
sb_status sb_eval(sb_model *m, const sb_dataset *d, const sb_preprocess *pp,
                  const sb_eval_options *opt, sb_eval_result *res, sb_error *err);
void sb_eval_result_free(sb_eval_result *r);

/* ---- activation cache ----
 * A cut is where a model under evaluation first differs from the base: the inputs of the
 * earliest node whose operation, constants (weights) or inputs differ, found by comparing the
 * two graphs by node and value names (a structured prune changes the producer of the pruned
 * channels; activation quantisation inserts a node before its layer). The cache keeps the values
 * live at up to 4 cuts, per image, for the first images of the eval set, within one memory
 * budget. An evaluation adds a cut at its model's first change when none is there and captures
 * its images there as they run; images a cut before the change holds resume at the latest such
 * cut (and are captured at the later ones on the way), the others run from the input. The new
 * cut takes the budget first, then the cut resumed from, then the others, most recently used
 * first (each keeps its first images that fit, or goes). A change in the very first step keeps
 * nothing. Results are bit-identical to an uncached evaluation: the steps before a cut are the
 * base's. The cache is bound to the eval set and preprocessing it was filled from; others clear
 * it. */

/* The budget a cache gets when none is given: 1/8 of physical memory, at most 1 GiB (256 MiB
 * when the size of memory is unknown); the environment variable SB_ACTCACHE_MB=N sets N MiB
 * instead (0 turns caching off). Fails only on a malformed SB_ACTCACHE_MB. */
sb_status sb_actcache_default_budget(size_t *bytes, sb_error *err);
/* budget_bytes 0: sb_actcache_default_budget(). The base must outlive the cache. */
sb_status sb_actcache_new(const sb_model *base, size_t budget_bytes, sb_actcache **out,
                          sb_error *err);
void sb_actcache_free(sb_actcache *c);
/* Drops every cached image and cut (call when the data on disk may have changed). */
void sb_actcache_clear(sb_actcache *c);

typedef struct sb_actcache_info {
    /* the cut used last (made, or resumed from) */
    const char *cut_node; /* first node run for its cached images; NULL: no cut yet */
    int values;           /* activation tensors kept per image */
    size_t image_bytes;   /* bytes per image */
    int images;           /* images cached (the first ones of the eval set) */
    int capacity;         /* images that fit in its share of the budget */
    /* all cuts */
    int cuts;
    size_t bytes;         /* reserved by the cuts (capacity x image bytes, summed) */
    size_t budget;
} sb_actcache_info;
sb_actcache_info sb_actcache_get_info(const sb_actcache *c);

/* Name of the first node where m's execution differs from base's (the cut an evaluation of m
 * would use), or NULL when m runs exactly as base does or cannot be compared. */
const char *sb_model_first_change(const sb_model *base, const sb_model *m);

/* ---- latency ---- */
typedef struct sb_latency {
    double median_ms, min_ms, max_ms;
    int runs, threads;
} sb_latency;
/* `cancel` (optional) is checked between runs. */
sb_status sb_latency_measure(sb_model *m, double seconds, const volatile int *cancel,
                             sb_latency *out, sb_error *err);
/* Batch-1 time of each layer's step (its fused BatchNorm and activation included; 0 for a
 * layer without a step of its own) over runs repeated for `seconds`, and of the whole run.
 * The minimum is the steadier figure on a machine shared with other work. Each median is taken
 * on its own, so the layers' medians do not add up exactly to the whole run's (which also holds
 * the steps that are not layers: pooling, adds, reshapes). `cancel` (optional) is checked
 * between runs. */
typedef struct sb_layer_time {
    double median_ms, min_ms;
} sb_layer_time;
sb_status sb_latency_layers(sb_model *m, double seconds, const volatile int *cancel,
                            sb_layer_time *layers, sb_layer_time *total, sb_error *err);

/* ---- per-step profile ----
 * Each step of the execution plan (a node, or a Conv/Gemm with the BatchNorm, activation and
 * elementwise ops fused into it) timed over repeated runs of the plan at one batch size: the
 * median of each step's own times, with the kernel that ran it. */
typedef struct sb_step_time {
    char name[96];    /* ONNX node name of the step's first node */
    char op[48];      /* the ops it runs, e.g. "Conv+BatchNormalization+Relu" */
    char kernel[48];  /* e.g. "im2col-gemm/avx512", "sparse-csr/avx512", "int8-vnni" */
    int node;         /* index of that node in the model's graph */
    double median_ms; /* per run of the whole batch */
    double min_ms;    /* the fastest run: closer to the kernel's own cost on a busy machine */
} sb_step_time;

typedef struct sb_profile {
    sb_step_time *steps;
    int n_steps, runs, batch, threads;
    double run_median_ms; /* median of whole runs (includes what lies between steps) */
    double run_min_ms;
} sb_profile;

/* Runs the plan for `batch` images (zeros) for about `seconds` (at least 3 runs) after a
 * warm-up. `cancel` (optional) is checked between runs. */
sb_status sb_profile_steps(sb_model *m, int batch, double seconds, const volatile int *cancel,
                           sb_profile *out, sb_error *err);
void sb_profile_free(sb_profile *p);

#endif
