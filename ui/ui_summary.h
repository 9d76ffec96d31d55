/* The headline numbers (accuracy, latency, size) as text, shared by the header and the
 * workshop view. Pure: built from job reports, tested without a terminal. */
#ifndef UI_SUMMARY_H
#define UI_SUMMARY_H

#include "ui_state.h"

typedef enum {
    UI_METRIC_WAITING,
    UI_METRIC_ESTIMATE,
    UI_METRIC_FINAL,
    UI_METRIC_ERROR
} ui_metric_kind;

typedef struct ui_metric {
    ui_metric_kind kind;
    double value;   /* top-1 as a fraction, or milliseconds */
    double lo, hi;  /* ESTIMATE: the 95% interval */
    double done;    /* fraction of the job done, for a progress bar */
    char text[32];  /* "91.84%", "~91.8%", "0.412 ms" */
    char note[UI_PATH_MAX + 256]; /* what the number is, how sure, or why it is missing */
} ui_metric;

void ui_metric_top1(const ui_job_report *eval, bool utf8, ui_metric *m);
void ui_metric_latency(const ui_job_report *lat, const ui_job_report *eval, bool utf8,
                       ui_metric *m);
/* detail 2: "78.3k params · 12.5M MACs · 14 layers · 313 KB f32", 1: without the size,
 * 0: params and MACs only. */
char *ui_summary_model(const ui_state *s, int detail, char *buf, size_t n);

/* ---- the header's metric lines: baseline, and current beside it once edited ---- */
typedef enum {
    UI_TONE_PLAIN,
    UI_TONE_LABEL,
    UI_TONE_DIM,
    UI_TONE_ESTIMATE,
    UI_TONE_FINAL,
    UI_TONE_BETTER, /* a change for the better: green */
    UI_TONE_WORSE,  /* red */
    UI_TONE_ERROR,
    UI_TONE_BAR,
} ui_tone;

enum { UI_SEG_MAX = 20, UI_SUMMARY_LINES = 4 };

typedef struct ui_seg {
    ui_tone tone;
    int keep; /* when the line is too wide the lowest go first; 9 stays */
    char text[200];
} ui_seg;

typedef struct ui_hline {
    int n;
    ui_seg seg[UI_SEG_MAX];
} ui_hline;

/* Fills up to max lines (top-1; agreement and latency; parameters and MACs; size) fitted to
 * width columns; returns how many. Numbers still being measured are labelled estimates, and
 * every change reads without colour: signed differences and ratios. */
int ui_summary_lines(const ui_state *s, int width, ui_hline *lines, int max);
char *ui_hline_text(const ui_hline *l, char *buf, size_t n); /* the line as plain text */
/* The current Config's evaluation as the header shows it: the running job's, else the latest
 * finished one (then *previous is set), else NULL. */
const ui_job_report *ui_summary_now_eval(const ui_state *s, bool *previous);

#endif
