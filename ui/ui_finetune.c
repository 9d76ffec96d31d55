#include "ui_finetune.h"

#include "ui_keys.h"

#include <curses.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const labels[UI_FT_FIELDS] = {
    "epochs", "or steps", "learning rate", "distillation", "  temperature T", "  alpha",
    "gradual pruning", "training images"};
static const char *const hints[UI_FT_FIELDS] = {
    "passes over the training split; fractions allowed (0.2)",
    "optimizer steps of 64 images; empty: by epochs",
    "SGD with momentum 0.9",
    "Space toggles: learn from the original model too",
    "softens both models' outputs (4)",
    "weight of the distillation loss, 0-1 (0.7)",
    "AGP pruning steps from the original weights; empty: off",
    "train on the first N images only; empty: all"};

const char *ui_ft_label(ui_ft_field f) { return f < UI_FT_FIELDS ? labels[f] : ""; }
const char *ui_ft_hint(ui_ft_field f) { return f < UI_FT_FIELDS ? hints[f] : ""; }

const char *ui_ft_value(const ui_ft_dialog *d, ui_ft_field f)
{
    if (f == UI_FT_DISTILL)
        return d->distill ? "on" : "off";
    return f < UI_FT_FIELDS ? d->text[f] : "";
}

static void defaults(ui_ft_dialog *d)
{
    sb_train_options o = sb_train_options_default();
    memset(d, 0, sizeof *d);
    snprintf(d->text[UI_FT_EPOCHS], UI_FT_TEXT, "%g", o.epochs);
    snprintf(d->text[UI_FT_LR], UI_FT_TEXT, "%g", o.lr);
    snprintf(d->text[UI_FT_T], UI_FT_TEXT, "%g", o.temperature);
    snprintf(d->text[UI_FT_ALPHA], UI_FT_TEXT, "%g", o.alpha);
    d->distill = true; /* the original model is at hand: the workbench distils by default */
    d->bad = -1;
}

bool ui_ft_open(ui_state *s)
{
    if (ui_state_is_base(s)) {
        ui_state_message(s, "nothing to fine-tune yet: prune or quantise some layers first");
        return false;
    }
    if (!s->ft.text[UI_FT_EPOCHS][0] && !s->ft.text[UI_FT_LR][0])
        defaults(&s->ft);
    s->ft.bad = -1;
    s->ft.error[0] = 0;
    s->ft.field = 0;
    s->input = UI_INPUT_FINETUNE;
    return true;
}

/* Empty text: *out = 0. Else a number in [lo, hi], whole when asked. */
static bool number(const char *t, double lo, double hi, bool whole, double *out)
{
    char *end;
    if (!*t) {
        *out = 0;
        return true;
    }
    double v = strtod(t, &end);
    if (*end || !(v >= lo && v <= hi) || (whole && v != floor(v)))
        return false;
    *out = v;
    return true;
}

static int wrong(char *why, size_t n, int field, const char *msg)
{
    snprintf(why, n, "%s: %s", labels[field] + strspn(labels[field], " "), msg);
    return field;
}

int ui_ft_parse(const ui_ft_dialog *d, sb_train_options *o, bool *agp, char *why, size_t n)
{
    double epochs, steps, lr, T = 0, alpha = 0, agp_steps, limit;
    *o = sb_train_options_default();
    if (!number(d->text[UI_FT_STEPS], 1, 1e7, true, &steps))
        return wrong(why, n, UI_FT_STEPS, "a whole number of steps, or empty");
    if (!number(d->text[UI_FT_EPOCHS], 1e-4, 1000, false, &epochs) || (!steps && !epochs))
        return wrong(why, n, UI_FT_EPOCHS, "a positive number, e.g. 1 or 0.2");
    if (!number(d->text[UI_FT_LR], 1e-9, 10, false, &lr) || !lr)
        return wrong(why, n, UI_FT_LR, "a positive number, e.g. 0.01");
    if (d->distill && (!number(d->text[UI_FT_T], 1e-3, 100, false, &T) || !T))
        return wrong(why, n, UI_FT_T, "a positive number, e.g. 4");
    if (d->distill && (!number(d->text[UI_FT_ALPHA], 0, 1, false, &alpha) ||
                       !d->text[UI_FT_ALPHA][0]))
        return wrong(why, n, UI_FT_ALPHA, "a number from 0 to 1, e.g. 0.7");
    if (!number(d->text[UI_FT_AGP], 0, 1e5, true, &agp_steps))
        return wrong(why, n, UI_FT_AGP, "a whole number of pruning steps, or empty");
    if (!number(d->text[UI_FT_LIMIT], 1, 1e9, true, &limit))
        return wrong(why, n, UI_FT_LIMIT, "a whole number of images, or empty");
    o->epochs = epochs ? epochs : o->epochs;
    o->steps = (int)steps;
    o->lr = (float)lr;
    o->distill = d->distill;
    if (d->distill) {
        o->temperature = (float)T;
        o->alpha = (float)alpha;
    }
    o->limit = (int)limit;
    *agp = agp_steps > 0;
    if (*agp)
        o->agp_steps = (int)agp_steps;
    return -1;
}

static void start(ui_state *s)
{
    ui_ft_dialog *d = &s->ft;
    sb_train_options o;
    bool agp;
    d->bad = ui_ft_parse(d, &o, &agp, d->error, sizeof d->error);
    if (d->bad >= 0) {
        d->field = d->bad;
        return;
    }
    d->error[0] = 0;
    s->input = UI_INPUT_NORMAL;
    s->req = (ui_request){.kind = UI_REQ_FINETUNE, .train = o, .agp = agp};
    d->running_agp = agp;
    s->job[UI_JOB_TRAIN] = (ui_job_report){
        .kind = UI_JOB_TRAIN, .state = UI_JOB_QUEUED, .generation = s->generation};
}

void ui_ft_cancel(ui_state *s)
{
    s->req = (ui_request){.kind = UI_REQ_CANCEL_FINETUNE};
    s->job[UI_JOB_TRAIN].state = UI_JOB_CANCELLED;
    ui_state_message(s, "fine-tuning cancelled: the model is as it was");
}

static void type(ui_ft_dialog *d, int key)
{
    char *t = d->text[d->field];
    size_t len = strlen(t);
    if (d->field == UI_FT_DISTILL) {
        if (key == ' ')
            d->distill = !d->distill;
        return;
    }
    if (!strchr("0123456789.eE+-", key) || len + 1 >= UI_FT_TEXT)
        return;
    t[len] = (char)key;
    t[len + 1] = 0;
}

unsigned ui_ft_key(ui_state *s, int key)
{
    ui_ft_dialog *d = &s->ft;
    char *t = d->text[d->field];
    if (key == '\n' || key == '\r' || key == KEY_ENTER)
        start(s);
    else if (key == UI_KEY_ESC || key == UI_CTRL('g'))
        s->input = UI_INPUT_NORMAL;
    else if (key == KEY_DOWN || key == '\t' || key == UI_CTRL('n'))
        d->field = (d->field + 1) % UI_FT_FIELDS;
    else if (key == KEY_UP || key == KEY_BTAB || key == UI_CTRL('p'))
        d->field = (d->field + UI_FT_FIELDS - 1) % UI_FT_FIELDS;
    else if (d->field == UI_FT_DISTILL && (key == KEY_LEFT || key == KEY_RIGHT))
        d->distill = !d->distill;
    else if ((key == KEY_BACKSPACE || key == 127 || key == '\b') && *t)
        t[strlen(t) - 1] = 0;
    else if (key == UI_CTRL('u'))
        t[0] = 0;
    else if (key >= 32 && key < 127)
        type(d, key);
    return UI_HANDLED | UI_REDRAW;
}

/* The numbers after the bar; `gap` separates them (two blanks, or one when narrow). */
static int progress_numbers(const ui_state *s, const char *gap, char *buf, size_t n)
{
    const sb_train_progress *p = &s->job[UI_JOB_TRAIN].train;
    char sparsity[32] = "";
    if (s->ft.running_agp)
        snprintf(sparsity, sizeof sparsity, "%ssparsity %.0f%%", gap, 100 * p->sparsity);
    return snprintf(buf, n, " %d/%d%sloss %.3f%strain %.1f%%%s%s%.0fs%sF cancels", p->step,
                    p->steps, gap, p->loss, gap, p->accuracy, sparsity, gap, p->seconds, gap);
}

/* "fine-tuning [#####-----] 120/400  loss 0.853  train 83.9%  12s  F cancels", the bar taking
 * what the numbers leave of width (4 to 30 cells). */
char *ui_ft_progress_text(const ui_state *s, int width, char *buf, size_t n)
{
    const ui_job_report *r = &s->job[UI_JOB_TRAIN];
    const sb_train_progress *p = &r->train;
    if (r->state == UI_JOB_QUEUED) {
        snprintf(buf, n, "fine-tuning: waiting for the running job  F cancels");
        return buf;
    }
    if (!p->steps) {
        snprintf(buf, n, "fine-tuning: reading the training split  F cancels");
        return buf;
    }
    const char *label = "fine-tuning ";
    char nums[192];
    int len = progress_numbers(s, "  ", nums, sizeof nums);
    if ((int)strlen(label) + len + 8 > width)
        len = progress_numbers(s, " ", nums, sizeof nums);
    int cells = width - (int)strlen(label) - len;
    cells = cells < 4 ? 4 : cells > 30 ? 30 : cells;
    int full = (int)((double)cells * p->step / p->steps);
    const char *on = s->utf8 ? "\u2588" : "#", *off = s->utf8 ? "\u2591" : "-";
    size_t used = (size_t)snprintf(buf, n, "%s", label);
    for (int i = 0; i < cells && used + 4 < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s", i < full ? on : off);
    if (used < n)
        snprintf(buf + used, n - used, "%s", nums);
    return buf;
}
