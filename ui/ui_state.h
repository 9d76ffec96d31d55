/* Workbench UI state: plain data plus the functions that change it. No curses and no threads,
 * so the state machine is unit-tested without a terminal; views only draw it. Editing
 * operations (prune, quantise, reset, load) live in ui_edit.c. */
#ifndef UI_STATE_H
#define UI_STATE_H

#include "compress.h"
#include "slimbench.h"
#include "train.h"

#include <stdbool.h>
#include <stdint.h>

/* Flags returned by key handlers; the main loop acts on them. */
enum {
    UI_HANDLED = 1u << 0, /* the key meant something here */
    UI_REDRAW = 1u << 1,  /* the screen must be redrawn now */
    UI_CLEAR = 1u << 2,   /* repaint the whole terminal (Ctrl-L) */
    UI_QUIT = 1u << 3,    /* leave the main loop */
};

typedef enum {
    UI_SORT_ORDER,
    UI_SORT_MACS,
    UI_SORT_PARAMS,
    UI_SORT_NAME,
    UI_SORT_TIME, /* measured per-layer time, slowest first */
    UI_SORT_COUNT
} ui_sort;
typedef enum { UI_SCREEN_TABLE, UI_SCREEN_DEMO } ui_screen;
typedef enum {
    UI_INPUT_NORMAL,
    UI_INPUT_SEARCH,
    UI_INPUT_CONFIRM_QUIT, /* y: save first, n: discard, Esc: stay */
    UI_INPUT_PROMPT,       /* a line of text: a ratio or a path */
    UI_INPUT_FINETUNE,     /* the fine-tuning dialog (F) */
} ui_input;

/* What the detail pane shows under the layer's summary when it cannot show everything. */
typedef enum { UI_PANEL_CHANNELS, UI_PANEL_HISTOGRAM, UI_PANEL_SENS, UI_PANEL_COUNT } ui_panel;

/* ---- engine jobs as the UI sees them (the worker fills these in) ---- */
typedef enum {
    UI_JOB_NONE = -1,
    UI_JOB_EVAL,    /* generation 0: the base model; else compress with the Config, evaluate */
    UI_JOB_LATENCY, /* batch-1 latency of the model of that generation */
    UI_JOB_SWEEP,   /* sensitivity of one layer (generation: the sweep id) */
    UI_JOB_FILE,    /* export ONNX or write the report CSV */
    UI_JOB_TRAIN,   /* fine-tune the model of that generation */
    UI_JOB_LAYERS,  /* batch-1 time of each layer of that generation's model (after latency) */
    UI_JOB_COUNT
} ui_job_kind;
typedef enum {
    UI_JOB_IDLE, /* not started for this generation */
    UI_JOB_QUEUED,
    UI_JOB_RUNNING,
    UI_JOB_DONE,
    UI_JOB_FAILED,
    UI_JOB_CANCELLED,
} ui_job_state;

enum { UI_SWEEP_MAX = 10, UI_PATH_MAX = 512 };

typedef enum { UI_FILE_EXPORT_ONNX, UI_FILE_REPORT_CSV } ui_file_op;

typedef struct ui_job_report {
    ui_job_kind kind;
    ui_job_state state;
    uint64_t generation;       /* the edit the job ran for; stale reports are dropped */
    sb_eval_progress progress; /* eval: images so far, final when DONE; sweep: points */
    double seconds;            /* eval: wall time of the evaluation */
    int cached;                /* eval: images resumed from the activation cache (DONE) */
    sb_latency latency;        /* latency: result when DONE */
    char kernels[96];          /* latency: layers per kernel, e.g. "int8-vnni x10" */
    int threads;               /* OpenMP threads the job ran with */
    int layer;                 /* sweep: the layer */
    sb_prune_method method;    /* sweep: how it was pruned */
    int n_points;              /* sweep: points[] filled when DONE */
    sb_sweep_point points[UI_SWEEP_MAX];
    sb_train_progress train;         /* train: the latest step's numbers */
    ui_file_op op;                   /* file: what was written */
    char path[UI_PATH_MAX];          /* file: where */
    char error[UI_PATH_MAX + 256];   /* FAILED: the engine's message; file: a note when DONE */
} ui_job_report;

/* The compressed model of one generation, as numbers: the worker builds it (it owns the model)
 * and hands it over whole; the UI frees it. */
typedef struct ui_layer_stats {
    sb_shape out_shape;
    int64_t params, macs, zeros, out_channels;
    double *l1;      /* per output channel (out_channels entries), owned */
    char kernel[16]; /* the kernel its batch-1 plan runs it with, "" when unplannable */
} ui_layer_stats;

typedef struct ui_model_stats {
    uint64_t generation;
    sb_size_info size;
    int n_layers;
    ui_layer_stats *layer; /* owned */
} ui_model_stats;

/* Built from any model (engine calls only; the caller must be the model's one user, as the
 * kernel names come from its plan); NULL when out of memory. */
ui_model_stats *ui_model_stats_new(sb_model *m, uint64_t generation);
void ui_model_stats_free(ui_model_stats *st);

/* The batch-1 time of each layer of one generation's model (sb_latency_layers): measured by the
 * worker after that model's latency, handed over whole; the UI frees it. For an edit the base
 * model is timed in the same job, in alternating rounds, so speed-ups compare like with like. */
typedef struct ui_layer_times {
    uint64_t generation;
    int n_layers, threads;
    sb_layer_time *layer; /* owned, n_layers entries; median 0: no step of its own */
    sb_layer_time run;    /* whole runs of the same profile */
    sb_layer_time *base;  /* owned: the base model's, timed beside it (edits), or NULL */
    sb_layer_time base_run;
} ui_layer_times;

/* NULL when out of memory; with_base: room for the base model's times too. */
ui_layer_times *ui_layer_times_new(int n_layers, uint64_t generation, bool with_base);
void ui_layer_times_free(ui_layer_times *t);                            /* NULL-safe */

/* How far a per-layer figure (kernel, time) belongs to the current configuration. */
typedef enum {
    UI_MEASURE_PENDING, /* not known yet for the current model */
    UI_MEASURE_CURRENT,
    UI_MEASURE_STALE,  /* a previous configuration's, while the current one is pending */
    UI_MEASURE_FAILED, /* the measurement failed (the job's error says why) */
} ui_measure;

/* Fine-tuned weights: a trained model shared, reference-counted, by the history entries that
 * use it and the worker jobs that run it (the count is atomic: both threads drop references).
 * model is NULL in the unit tests, which use such snapshots as tokens. */
typedef struct ui_weights {
    int refs;
    sb_model *model; /* owned */
    char note[96];   /* how it was trained: "40 steps, distilled T 4 alpha 0.7" */
    bool exported;   /* written to ONNX (the UI thread's flag) */
} ui_weights;

/* One reference to m (taken over; NULL allowed); NULL when out of memory (m is freed then). */
ui_weights *ui_weights_new(sb_model *m, const char *note);
ui_weights *ui_weights_ref(ui_weights *w); /* NULL-safe */
void ui_weights_unref(ui_weights *w);      /* NULL-safe; the last one frees the model */

/* Undo and redo are stacks of whole Configs: a Config is a plain value, and a job is handed a
 * snapshot, so the one being edited is never the one being evaluated. Each entry may also hold
 * a reference to fine-tuned weights (weights[i], NULL: the Config applied to the base model). */
typedef struct ui_history {
    sb_config *items; /* items[n - 1] is the top */
    ui_weights **weights;
    int n, cap;
} ui_history;

/* The fine-tuning dialog: text fields edited in place, one bool toggled. */
typedef enum {
    UI_FT_EPOCHS,
    UI_FT_STEPS,
    UI_FT_LR,
    UI_FT_DISTILL,
    UI_FT_T,
    UI_FT_ALPHA,
    UI_FT_AGP,
    UI_FT_LIMIT,
    UI_FT_FIELDS
} ui_ft_field;

enum { UI_FT_TEXT = 16 };

typedef struct ui_ft_dialog {
    int field; /* the one being edited */
    char text[UI_FT_FIELDS][UI_FT_TEXT];
    bool distill;
    int bad;        /* the field the error is about, -1: none */
    bool running_agp; /* the fine-tune started last prunes gradually */
    char error[96];
} ui_ft_dialog;

/* A channel group for structured (L1) pruning, as the engine describes it. */
typedef struct ui_group {
    int channels;             /* units */
    int n_members;            /* layers whose weights change when it is pruned */
    const int *members;       /* owned by the model (or the test) */
    bool prunable;
    const char *why_not;      /* when not prunable */
    const double *importance; /* per unit; owned by the model */
} ui_group;

/* A layer's sensitivity: top-1 when pruned alone at each ratio (from a sweep of the base). */
typedef struct ui_sens {
    bool known;
    sb_prune_method method;
    int n, images;
    double ratio[UI_SWEEP_MAX];
    double top1[UI_SWEEP_MAX]; /* fraction */
} ui_sens;

/* ---- the layer table ---- */
typedef struct ui_row {
    sb_layer_info info; /* the base model's; its strings belong to the model (outlives the UI) */
    double *l1_sorted;  /* per-channel L1, largest first (info.out_channels entries) */
    int *l1_channel;    /* the channel index of each l1_sorted entry */
    int group;          /* index into ui_state.groups, -1: none */
    ui_sens sens;
    char kernel[16];    /* the base model's kernel for it at batch 1, "" when unplannable */
} ui_row;

enum { UI_QUERY_MAX = 64 };

typedef struct ui_prompt {
    enum {
        UI_PROMPT_NONE,
        UI_PROMPT_RATIO,       /* = : the pruning ratio of the targets */
        UI_PROMPT_GLOBAL,      /* G : global sparsity over the marked layers */
        UI_PROMPT_SAVE_CONFIG, /* w */
        UI_PROMPT_SAVE_REPORT, /* W */
        UI_PROMPT_LOAD_CONFIG, /* o */
        UI_PROMPT_EXPORT,      /* e */
    } kind;
    char label[96];
    char text[UI_PATH_MAX];
    int len;
    bool quit_after; /* saving before quitting */
} ui_prompt;

/* Work for the main loop, which owns the model, the files and the worker. */
typedef struct ui_request {
    enum {
        UI_REQ_NONE,
        UI_REQ_SAVE_CONFIG,
        UI_REQ_LOAD_CONFIG,
        UI_REQ_SAVE_REPORT,
        UI_REQ_EXPORT,
        UI_REQ_SWEEP,
        UI_REQ_CANCEL_SWEEP,
        UI_REQ_FINETUNE,
        UI_REQ_CANCEL_FINETUNE,
    } kind;
    sb_train_options train; /* finetune */
    bool agp;               /* finetune: gradual pruning from the base model */
    char path[UI_PATH_MAX];
    int layer;              /* sweep */
    sb_prune_method method; /* sweep */
    bool quit_after;        /* quit once the configuration is saved */
} ui_request;

typedef struct ui_state {
    const char *model_path;
    sb_model_totals totals;
    sb_size_info base_size; /* the base model's parameters, MACs and bytes */
    bool utf8; /* the locale can show block characters */

    ui_row *rows; /* engine order */
    int n_rows;
    int *order;   /* view position -> row index, in the current sort */
    bool *marked; /* by row index */
    int n_marked;
    int sel, top, page; /* selected position, first visible position, visible rows */
    ui_sort sort;
    bool visual;       /* a visual range runs from visual_row to the selection */
    int visual_row;    /* row index of the anchor */

    ui_group *groups;
    int n_groups;

    ui_input input;
    char query[UI_QUERY_MAX]; /* the search text; kept after Enter for n/N */
    int query_len;
    char last_query[UI_QUERY_MAX]; /* the query before this search (Esc restores it) */
    int search_origin;             /* selection when the search began (Esc returns there) */
    bool search_failed;
    ui_prompt prompt;
    ui_request req; /* taken by the main loop after each key */

    ui_screen screen;
    bool show_detail, show_help;
    int detail_scroll; /* first channel shown in the detail pane */
    ui_panel panel;

    sb_config cfg;   /* what the user asked for */
    sb_config saved; /* as last loaded or saved: quitting asks when cfg differs */
    ui_history undo, redo;
    ui_weights *weights; /* the current model's fine-tuned weights, or NULL (cfg on the base) */
    ui_ft_dialog ft;
    bool quit_warned; /* q said the fine-tuned weights are not exported; q again quits */
    uint64_t generation; /* bumped by every edit; a job for an older one is stale */

    ui_job_report job[UI_JOB_COUNT];  /* current generation (eval, latency), sweep, file */
    ui_job_report base[UI_JOB_COUNT]; /* generation 0: the uncompressed model */
    ui_job_report last[UI_JOB_COUNT]; /* the latest finished eval/latency of an edited Config:
                                         shown while a newer one runs or when it fails */
    ui_model_stats *stats;            /* the newest compressed model's numbers, or NULL */
    ui_layer_times *times;            /* the newest edit's per-layer times, or NULL */
    ui_layer_times *base_times;       /* the base model's, or NULL until measured */
    uint64_t sweep_id;                /* of the latest sweep asked for */
    char message[UI_PATH_MAX + 320];  /* one-shot status-line message, cleared on the next key */
    bool message_error;               /* ... and it reports a failure */
} ui_state;

void ui_state_init(ui_state *s);
/* Copies the layer table and starts from a default Config; l1[i] has infos[i].out_channels
 * entries (NULL allowed when 0). Returns false when out of memory. */
bool ui_state_set_layers(ui_state *s, const sb_layer_info *infos, const double *const *l1, int n);
/* Channel groups and the group of each layer's output channels (-1: none). */
bool ui_state_set_groups(ui_state *s, const ui_group *groups, int n, const int *group_of_layer);
bool ui_state_load(ui_state *s, sb_model *m); /* m: before any worker runs it */
void ui_state_free(ui_state *s);
void ui_state_message(ui_state *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ui_state_error(ui_state *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Table navigation. All of them clamp and keep the selection inside the visible window. */
const ui_row *ui_table_selected(const ui_state *s); /* NULL when there are no layers */
int ui_table_row_index(const ui_state *s, const ui_row *r);
int ui_table_position(const ui_state *s, int row); /* view position of a row index */
void ui_table_set_page(ui_state *s, int rows);
void ui_table_scroll(ui_state *s);
void ui_table_move(ui_state *s, int delta);
void ui_table_move_to(ui_state *s, int pos);
void ui_table_page(ui_state *s, int dir); /* +1 PgDn, -1 PgUp: selection and window move */
bool ui_table_click(ui_state *s, int body_row);
void ui_table_sort(ui_state *s, ui_sort k);
void ui_table_mark(ui_state *s); /* toggles the selected layer and moves down */
const char *ui_sort_name(ui_sort k);

/* Visual ranges: v starts one at the selection; moving extends it; v (or Space) again marks
 * every layer in it; Esc drops it. */
void ui_visual_begin(ui_state *s);
void ui_visual_mark(ui_state *s);
void ui_visual_cancel(ui_state *s);
bool ui_visual_contains(const ui_state *s, int row);
/* The layers an edit applies to: the visual range, else the marked layers, else the selected
 * one; row indices in model order into rows (n_rows entries). Returns how many. */
int ui_edit_targets(const ui_state *s, int *rows);

/* Incremental search by layer name (case-insensitive substring, wrapping). */
void ui_search_begin(ui_state *s);
void ui_search_type(ui_state *s, int ch);
void ui_search_erase(ui_state *s);
void ui_search_accept(ui_state *s);
void ui_search_cancel(ui_state *s);
bool ui_search_next(ui_state *s, int dir);

/* Detail pane scrolling over the sorted channels. */
void ui_detail_scroll(ui_state *s, int delta);

/* The line prompt (ratios, paths). Accepting turns it into an edit or a request. */
void ui_prompt_begin(ui_state *s, int kind, const char *label, const char *text);
void ui_prompt_type(ui_state *s, int ch);
void ui_prompt_erase(ui_state *s);
void ui_prompt_clear(ui_state *s);
void ui_prompt_cancel(ui_state *s);
/* "0.5", ".5", "50%" → 0.5; false (with a message) when not a ratio in [0, max]. */
bool ui_parse_ratio(ui_state *s, const char *text, double max, double *out);

/* Editing history: every change bumps the generation, which cancels the running job. */
bool ui_state_edit(ui_state *s, const sb_config *next);
bool ui_state_undo(ui_state *s);
bool ui_state_redo(ui_state *s);
/* Fine-tuning finished: the trained weights (one reference, taken over) become the current
 * model with the same Config, as one undoable step. */
bool ui_state_finetuned(ui_state *s, ui_weights *w);
/* The last edit started again from the original weights, leaving fine-tuned ones in undo. */
bool ui_state_left_finetuned(const ui_state *s);
/* A fine-tune is queued or running (edits wait for it). */
bool ui_state_training(const ui_state *s);
bool ui_state_has_unsaved(const ui_state *s);
void ui_state_mark_saved(ui_state *s); /* the current Config is on disk */
/* True when the Config changes nothing and no weights were fine-tuned: the current model is
 * the base model. */
bool ui_state_is_base(const ui_state *s);

/* Paths beside the model: "<dir>/<name>.config.csv", ".report.csv", ".compressed.onnx". */
void ui_default_path(const ui_state *s, const char *suffix, char *buf, size_t n);

/* Applies a worker report. Returns the job to start next and, in *gen, its generation
 * (accuracy settles first, then latency is measured), or UI_JOB_NONE. */
ui_job_kind ui_state_on_report(ui_state *s, const ui_job_report *r, uint64_t *gen);
/* Marks a job as queued for generation gen (the main loop has submitted it). */
void ui_state_job_queued(ui_state *s, ui_job_kind k, uint64_t gen);
/* Takes ownership of st; dropped when older than the newest stats. */
void ui_state_set_stats(ui_state *s, ui_model_stats *st);
/* The current model's numbers for row i, or NULL when they are the base model's. */
const ui_layer_stats *ui_row_now(const ui_state *s, int row);
/* The current model's size, or the base's. */
sb_size_info ui_state_size_now(const ui_state *s);

/* Per-layer kernels and times (ui_times.c). Takes ownership of t: the base's (generation 0) or
 * an edit's, dropped when older than the one held; re-sorts a table sorted by time. */
void ui_state_set_times(ui_state *s, ui_layer_times *t);
/* The kernel that runs row in the current model (*kernel: "" when unplannable), or the
 * previous configuration's while the current one is being built. */
ui_measure ui_row_kernel(const ui_state *s, int row, const char **kernel);
/* The current model's median time of row in ms (0: no step of its own), or the previous
 * configuration's while the current one is measured (*ms is then that old figure). */
ui_measure ui_row_time(const ui_state *s, int row, double *ms);
/* The base model's median time of row in ms, 0 when not measured: timed beside the current
 * model's when it was, else in the base model's own measurement. */
double ui_row_base_time(const ui_state *s, int row);
/* The sum of the layers' medians (*ms) and of the base's (*base_ms, 0 when not measured); it is
 * not the whole run's median (other steps, and medians do not add up). */
ui_measure ui_times_sum(const ui_state *s, double *ms, double *base_ms);
/* The per-layer times the table shows (the current model's, or the stale ones), or NULL. */
const ui_layer_times *ui_times_now(const ui_state *s, ui_measure *m);
/* The detail pane's line on row's kernel and time: "sparse-csr  0.0259 ms median (min 0.0230);
 * base f32 0.0578 ms, 2.24x faster; 15.4% of the layers' 0.168 ms (a run: 0.180 ms)": the
 * layers' medians do not add up to a whole run's (other steps; medians of parts). */
char *ui_row_speed_text(const ui_state *s, int row, char *buf, size_t n);

/* Structured pruning, as compress.c does it: the ratio of row's group (the largest l1 ratio
 * of the group's producing layers), and the units it removes (removed has channels entries):
 * the round(ratio x units) least important, ties by lower index, at least one kept. Returns how
 * many; 0 when the group is not pruned. */
double ui_group_ratio(const ui_state *s, int group, int *by_row);
int ui_group_removed(const ui_group *g, double ratio, bool *removed);
/* Why row's output channels cannot be pruned by l1, or NULL when they can. */
const char *ui_row_why_not_l1(const ui_state *s, int row);

#endif
