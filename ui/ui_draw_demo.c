/* Workshop view: before/after in large digits, readable on a projector. */
#include "ui_draw.h"

#include "ui_format.h"
#include "ui_summary.h"

#include <stdio.h>
#include <string.h>

typedef struct demo_value {
    char big[24];      /* drawn in big digits when there is room */
    char caption[UI_PATH_MAX + 256]; /* unit and what kind of number it is */
    ui_style st;
} demo_value;

static void accuracy_value(const ui_state *s, const ui_job_report *eval, demo_value *v)
{
    ui_metric m;
    ui_metric_top1(eval, s->utf8, &m);
    v->st = m.kind == UI_METRIC_FINAL      ? UI_ST_FINAL
            : m.kind == UI_METRIC_ESTIMATE ? UI_ST_ESTIMATE
                                           : UI_ST_DIM;
    if (m.kind == UI_METRIC_FINAL) {
        snprintf(v->big, sizeof v->big, "%.2f%%", 100 * m.value);
        snprintf(v->caption, sizeof v->caption, "top-1 on %d test images", eval->progress.total);
    } else if (m.kind == UI_METRIC_ESTIMATE) {
        snprintf(v->big, sizeof v->big, "%.1f%%", 100 * m.value);
        snprintf(v->caption, sizeof v->caption, "estimate %.1f-%.1f%%, %.0f%% done", 100 * m.lo,
                 100 * m.hi, 100 * m.done);
    } else {
        snprintf(v->big, sizeof v->big, "--");
        snprintf(v->caption, sizeof v->caption, "%s", m.note);
    }
}

static void latency_value(const ui_state *s, const ui_job_report *lat, const ui_job_report *eval,
                          demo_value *v)
{
    ui_metric m;
    ui_metric_latency(lat, eval, s->utf8, &m);
    v->st = m.kind == UI_METRIC_FINAL ? UI_ST_FINAL : UI_ST_DIM;
    if (m.kind == UI_METRIC_FINAL) {
        ui_fmt_ms(v->big, sizeof v->big, m.value);
        snprintf(v->caption, sizeof v->caption, "ms per image (batch 1, %d threads)",
                 lat->latency.threads);
    } else {
        snprintf(v->big, sizeof v->big, "--");
        snprintf(v->caption, sizeof v->caption, "%s", m.note);
    }
}

static void size_value(double bytes, bool base, demo_value *v)
{
    bool mb = bytes >= 1e6;
    snprintf(v->big, sizeof v->big, "%.*f", mb ? (bytes < 1e7 ? 2 : 1) : 0,
             mb ? bytes / 1e6 : bytes / 1e3);
    snprintf(v->caption, sizeof v->caption, "%s of weights%s", mb ? "MB" : "KB",
             base ? " (float32)" : " (as stored)");
    v->st = UI_ST_FINAL;
}

/* A value in big digits (if scale > 0) with its caption below, centred in w columns. */
static int draw_value(int y, int x, int w, int scale, bool utf8, const demo_value *v)
{
    int bw = scale ? ui_big_width(v->big, scale) : ui_text_width(v->big);
    int bx = x + (w - bw > 0 ? (w - bw) / 2 : 0);
    char row[1024];
    int h = scale ? UI_BIG_HEIGHT * scale : 1;
    for (int r = 0; r < h; r++)
        ui_draw_str(y + r, bx, w,
                    scale ? ui_big_row(row, sizeof row, v->big, r, scale, utf8) : v->big, v->st);
    int cw = ui_text_width(v->caption);
    ui_draw_str(y + h, x + (w - cw > 0 ? (w - cw) / 2 : 0), w, v->caption,
                v->st == UI_ST_ESTIMATE ? UI_ST_ESTIMATE : UI_ST_DIM);
    return h + 1;
}

enum { DEMO_TOP = 4 }; /* title, blank, column headings, blank */

/* The largest digits for which three values with captions fit; 0: plain text. */
static int pick_scale(const ui_layout *l, int col_w)
{
    for (int scale = 3; scale >= 1; scale--)
        if (ui_big_width("88.88%", scale) + 2 <= col_w &&
            DEMO_TOP + 3 * (UI_BIG_HEIGHT * scale + 1) + 1 <= l->lines)
            return scale;
    return 0;
}

void ui_draw_demo_view(const ui_state *s, const ui_layout *l)
{
    if (l->too_small) {
        ui_draw_too_small(l);
        return;
    }
    enum { LABEL_W = 10 };
    int col_w = (l->cols - LABEL_W) / 2, scale = pick_scale(l, col_w);
    char title[256];
    const char *base = s->model_path ? strrchr(s->model_path, '/') : NULL;
    snprintf(title, sizeof title, "slimbench workshop view: %s",
             base            ? base + 1
             : s->model_path ? s->model_path
                             : "");
    ui_draw_str(0, (l->cols - ui_text_width(title)) / 2, l->cols, title, UI_ST_TITLE);
    const char *heading =
        !ui_state_is_base(s) ? "AFTER (current settings)" : "AFTER (no edits yet)";
    ui_draw_str(2, LABEL_W + (col_w - 17) / 2, col_w, "BEFORE (original)", UI_ST_COLHEAD);
    ui_draw_str(2, LABEL_W + col_w + (col_w - ui_text_width(heading)) / 2, col_w, heading,
                UI_ST_COLHEAD);
    demo_value before[3], after[3];
    static const char *const labels[] = {"top-1", "latency", "size"};
    accuracy_value(s, &s->base[UI_JOB_EVAL], &before[0]);
    bool edited = !ui_state_is_base(s), prev;
    const ui_job_report *now = ui_summary_now_eval(s, &prev);
    accuracy_value(s, edited ? (now ? now : &s->job[UI_JOB_EVAL]) : &s->base[UI_JOB_EVAL],
                   &after[0]);
    latency_value(s, &s->base[UI_JOB_LATENCY], &s->base[UI_JOB_EVAL], &before[1]);
    latency_value(s,
                  edited ? (prev ? &s->last[UI_JOB_LATENCY] : &s->job[UI_JOB_LATENCY])
                         : &s->base[UI_JOB_LATENCY],
                  edited ? (now ? now : &s->job[UI_JOB_EVAL]) : &s->base[UI_JOB_EVAL], &after[1]);
    size_value((double)s->base_size.bytes, true, &before[2]);
    size_value((double)ui_state_size_now(s).bytes, !edited, &after[2]);
    int block = scale ? UI_BIG_HEIGHT * scale + 1 : 1;
    int spare = l->lines - 1 - DEMO_TOP - 3 * block, gap = spare >= 6 ? spare / 4 : spare >= 2;
    int y = DEMO_TOP;
    for (int i = 0; i < 3 && y < l->lines - 1; i++) {
        ui_draw_str(y, 1, LABEL_W - 1, labels[i], UI_ST_TITLE);
        draw_value(y, LABEL_W, col_w, scale, s->utf8, &before[i]);
        y += draw_value(y, LABEL_W + col_w, col_w, scale, s->utf8, &after[i]) + gap;
    }
    ui_draw_status(s, &l->status);
}
