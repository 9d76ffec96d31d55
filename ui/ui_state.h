/* Workbench UI state: plain data plus the functions that change it. No curses and no threads,
 * so the state machine is unit-tested without a terminal; views only draw it. */
#ifndef UI_STATE_H
#define UI_STATE_H

#include "compress.h"
#include "slimbench.h"

#include <stdbool.h>
#include <stdint.h>

/* Flags returned by key handlers; the main loop acts on them. */
enum {
    UI_HANDLED = 1u << 0, /* the key meant something here */
    UI_REDRAW = 1u << 1,  /* the screen must be redrawn now */
    UI_CLEAR = 1u << 2,   /* repaint the whole terminal (Ctrl-L) */
    UI_QUIT = 1u << 3,    /* leave the main loop */
};

typedef enum { UI_SORT_ORDER, UI_SORT_MACS, UI_SORT_PARAMS, UI_SORT_NAME, UI_SORT_COUNT } ui_sort;
typedef enum { UI_SCREEN_TABLE, UI_SCREEN_DEMO } ui_screen;
typedef enum { UI_INPUT_NORMAL, UI_INPUT_SEARCH, UI_INPUT_CONFIRM_QUIT } ui_input;

/* ---- engine jobs as the UI sees them (the worker fills these in) ---- */
typedef enum { UI_JOB_NONE = -1, UI_JOB_EVAL, UI_JOB_LATENCY, UI_JOB_COUNT } ui_job_kind;
typedef enum {
    UI_JOB_IDLE, /* not started for this generation */
    UI_JOB_QUEUED,
    UI_JOB_RUNNING,
    UI_JOB_DONE,
    UI_JOB_FAILED,
    UI_JOB_CANCELLED,
} ui_job_state;

typedef struct ui_job_report {
    ui_job_kind kind;
    ui_job_state state;
    uint64_t generation;       /* the edit the job ran for; stale reports are dropped */
    sb_eval_progress progress; /* eval: images so far, final when DONE */
    double seconds;            /* eval: wall time */
    sb_latency latency;        /* latency: result when DONE */
    int threads;               /* OpenMP threads the job ran with */
    char error[256];           /* FAILED: the engine's message */
} ui_job_report;

/* Undo and redo are stacks of whole Configs: a Config is a plain value, and a job is handed a
 * snapshot, so the one being edited is never the one being evaluated. */
typedef struct ui_history {
    sb_config *items; /* items[n - 1] is the top */
    int n, cap;
} ui_history;

/* ---- the layer table ---- */
typedef struct ui_row {
    sb_layer_info info; /* strings are owned by the model, which outlives the UI */
    double *l1_sorted;  /* per-channel L1, largest first (info.out_channels entries) */
    int *l1_channel;    /* the channel index of each l1_sorted entry */
} ui_row;

enum { UI_QUERY_MAX = 64 };

typedef struct ui_state {
    const char *model_path;
    sb_model_totals totals;
    bool utf8; /* the locale can show block characters */

    ui_row *rows; /* engine order */
    int n_rows;
    int *order;   /* view position -> row index, in the current sort */
    bool *marked; /* by row index */
    int n_marked;
    int sel, top, page; /* selected position, first visible position, visible rows */
    ui_sort sort;

    ui_input input;
    char query[UI_QUERY_MAX]; /* the search text; kept after Enter for n/N */
    int query_len;
    char last_query[UI_QUERY_MAX]; /* the query before this search (Esc restores it) */
    int search_origin;             /* selection when the search began (Esc returns there) */
    bool search_failed;

    ui_screen screen;
    bool show_detail, show_help;
    int detail_scroll; /* first channel shown in the detail pane */

    sb_config cfg;   /* what the user asked for */
    sb_config saved; /* as last loaded or saved: quitting asks when cfg differs */
    ui_history undo, redo;
    uint64_t generation; /* bumped by every edit; a job for an older one is stale */

    ui_job_report job[UI_JOB_COUNT];  /* current generation */
    ui_job_report base[UI_JOB_COUNT]; /* generation 0: the uncompressed model */
    char message[128];                /* one-shot status-line message, cleared on the next key */
} ui_state;

void ui_state_init(ui_state *s);
/* Copies the layer table and starts from a default Config; l1[i] has infos[i].out_channels
 * entries (NULL allowed when 0). Returns false when out of memory. */
bool ui_state_set_layers(ui_state *s, const sb_layer_info *infos, const double *const *l1, int n);
bool ui_state_load(ui_state *s, const sb_model *m);
void ui_state_free(ui_state *s);
void ui_state_message(ui_state *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Table navigation. All of them clamp and keep the selection inside the visible window. */
const ui_row *ui_table_selected(const ui_state *s); /* NULL when there are no layers */
int ui_table_row_index(const ui_state *s, const ui_row *r);
void ui_table_set_page(ui_state *s, int rows);
void ui_table_scroll(ui_state *s);
void ui_table_move(ui_state *s, int delta);
void ui_table_move_to(ui_state *s, int pos);
void ui_table_page(ui_state *s, int dir); /* +1 PgDn, -1 PgUp: selection and window move */
bool ui_table_click(ui_state *s, int body_row);
void ui_table_sort(ui_state *s, ui_sort k);
void ui_table_mark(ui_state *s); /* toggles the selected layer and moves down */
const char *ui_sort_name(ui_sort k);

/* Incremental search by layer name (case-insensitive substring, wrapping). */
void ui_search_begin(ui_state *s);
void ui_search_type(ui_state *s, int ch);
void ui_search_erase(ui_state *s);
void ui_search_accept(ui_state *s);
void ui_search_cancel(ui_state *s);
bool ui_search_next(ui_state *s, int dir);

/* Detail pane scrolling over the sorted channels. */
void ui_detail_scroll(ui_state *s, int delta);

/* Editing: every change bumps the generation, which cancels the running job. */
bool ui_state_edit(ui_state *s, const sb_config *next);
bool ui_state_undo(ui_state *s);
bool ui_state_redo(ui_state *s);
bool ui_state_has_unsaved(const ui_state *s);

/* Applies a worker report; returns the job to start next for this generation, or
 * UI_JOB_NONE. Accuracy settles first, then latency is measured. */
ui_job_kind ui_state_on_report(ui_state *s, const ui_job_report *r);
/* Marks a job as queued for the current generation (the main loop has submitted it). */
void ui_state_job_queued(ui_state *s, ui_job_kind k);

#endif
