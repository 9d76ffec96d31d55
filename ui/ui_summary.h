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
    char note[320]; /* what the number is, how sure, or why it is missing */
} ui_metric;

void ui_metric_top1(const ui_job_report *eval, bool utf8, ui_metric *m);
void ui_metric_latency(const ui_job_report *lat, const ui_job_report *eval, bool utf8,
                       ui_metric *m);
/* detail 2: "78.3k params · 12.5M MACs · 14 layers · 313 KB f32", 1: without the size,
 * 0: params and MACs only. */
char *ui_summary_model(const ui_state *s, int detail, char *buf, size_t n);

#endif
