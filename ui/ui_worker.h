/* The one thread that runs engine jobs for the workbench (OpenMP inside the engine).
 * The UI thread submits jobs and collects reports; it never blocks on the engine. Reports go
 * through a mutex-protected mailbox, and a self-pipe wakes the UI's poll() loop.
 *
 * The worker owns every model it runs: the base model (evaluated and timed once, generation 0,
 * as the reference for agreement) and the compressed model of the newest edit, which it builds
 * from a Config snapshot. The UI gets copies of the numbers (reports and ui_model_stats).
 * Jobs of generation 0 are never cancelled by edits: everything else is compared with them. */
#ifndef UI_WORKER_H
#define UI_WORKER_H

#include "ui_state.h"

typedef struct ui_worker ui_worker;

typedef struct ui_worker_opts {
    sb_model *model; /* the base model: only the worker runs it while jobs run */
    const sb_dataset *data;
    sb_preprocess pp;
    const char *data_dir;   /* where the training split is (calibration for a8), or NULL */
    int threads;            /* 0: OpenMP's default */
    double latency_seconds; /* time budget of a latency measurement */
    int sweep_limit;        /* images per point of a sensitivity sweep (0: all) */
    int eval_limit;         /* images per evaluation (0: all; tests use fewer) */
} ui_worker_opts;

enum { UI_WORKER_SLOTS = 2 * UI_JOB_COUNT }; /* reports ui_worker_take may return at once */

/* Starts the thread. Returns NULL with errno set on failure. */
ui_worker *ui_worker_new(const ui_worker_opts *o);
/* Cancels the running job and joins the thread. */
void ui_worker_free(ui_worker *w);
/* The descriptor to poll for reports. */
int ui_worker_fd(const ui_worker *w);

/* Evaluates the model of generation gen: 0 is the base model; otherwise the fine-tuned weights
 * wt when given (a reference is taken), else cfg (copied) compressed from the base first. Replaces a queued evaluation; a running one for an older
 * edit, or a running sweep (queued again behind it), is cancelled. False when out of memory. */
bool ui_worker_submit_eval(ui_worker *w, uint64_t gen, const sb_config *cfg, ui_weights *wt);
/* Batch-1 latency of generation gen's model (after its evaluation). */
void ui_worker_submit_latency(ui_worker *w, uint64_t gen);
/* Batch-1 time of each layer of generation gen's model (after its latency), over the latency
 * time budget; the times come through ui_worker_take_times. The base model's (generation 0)
 * give way to an edit's evaluation and run again after it. */
void ui_worker_submit_layers(ui_worker *w, uint64_t gen);
/* Sensitivity of one layer of the base model: pruned alone by method at 0, 0.1 .. 0.9. */
void ui_worker_submit_sweep(ui_worker *w, uint64_t id, int layer, sb_prune_method method);
/* Writes the compressed ONNX or the report CSV for generation gen (its fine-tuned weights wt,
 * else cfg compressed, when the worker does not hold that model). False when out of memory. */
bool ui_worker_submit_file(ui_worker *w, ui_file_op op, const char *path, uint64_t gen,
                           const sb_config *cfg, ui_weights *wt);
/* Fine-tunes the model of generation gen (wt, else cfg compressed; with agp, cfg's pruning is
 * reached gradually from the base model) with the base model as the teacher. Progress comes as
 * UI_JOB_TRAIN reports; the trained weights through ui_worker_take_trained. Cancelled by
 * ui_worker_cancel(w, UI_JOB_TRAIN). False when out of memory. */
bool ui_worker_submit_train(ui_worker *w, uint64_t gen, const sb_config *cfg, ui_weights *wt,
                            const sb_train_options *o, bool agp);
/* The weights of a finished fine-tune (one reference, the caller's) and its generation, or
 * NULL. */
ui_weights *ui_worker_take_trained(ui_worker *w, uint64_t *gen);
/* Cancels edited-model jobs of this kind, running or queued; never the base model's. */
void ui_worker_cancel(ui_worker *w, ui_job_kind kind);

/* Copies reports that changed since the last call into out (at most UI_WORKER_SLOTS); returns
 * how many. Drains the wake-up pipe. */
int ui_worker_take(ui_worker *w, ui_job_report *out);
/* Per-layer times measured since the last call, one per call (the caller frees), or NULL. */
ui_layer_times *ui_worker_take_times(ui_worker *w);
/* The numbers of the newest compressed model since the last call (the caller frees), or NULL. */
ui_model_stats *ui_worker_take_stats(ui_worker *w);

#endif
