/* The fine-tuning dialog (F), drawn over the table. */
#include "ui_draw.h"

#include "ui_finetune.h"

#include <stdio.h>

enum { DLG_W = 66, LABEL_W = 18, VALUE_W = 12 };

static bool dimmed(const ui_ft_dialog *d, int f)
{
    return !d->distill && (f == UI_FT_T || f == UI_FT_ALPHA);
}

void ui_draw_finetune_dialog(const ui_state *s, const ui_layout *l)
{
    const ui_ft_dialog *d = &s->ft;
    if (s->input != UI_INPUT_FINETUNE || l->too_small)
        return;
    int w = l->cols < DLG_W ? l->cols : DLG_W, h = UI_FT_FIELDS + 5;
    h = h > l->lines ? l->lines : h;
    int y = (l->lines - h) / 2, x = (l->cols - w) / 2;
    ui_draw_box(y, x, h, w);
    ui_draw_str(y, x + 2, w - 4, " fine-tune the current model (teacher: the original) ",
                UI_ST_TITLE);
    for (int f = 0; f < UI_FT_FIELDS && y + 1 + f < y + h - 1; f++) {
        char value[UI_FT_TEXT + 2];
        bool here = f == d->field;
        snprintf(value, sizeof value, "%s%s", ui_ft_value(d, (ui_ft_field)f),
                 here && f != UI_FT_DISTILL ? "_" : "");
        ui_style st = f == d->bad ? UI_ST_ERROR : dimmed(d, f) ? UI_ST_DIM : UI_ST_NORMAL;
        ui_draw_text(y + 1 + f, x + 2, LABEL_W, ui_ft_label((ui_ft_field)f), false, st);
        ui_draw_text(y + 1 + f, x + 2 + LABEL_W, VALUE_W, value, false,
                     here ? UI_ST_SELECTED : st);
    }
    int foot = y + h - 3;
    if (d->error[0])
        ui_draw_str(foot, x + 2, w - 4, d->error, UI_ST_ERROR);
    else
        ui_draw_str(foot, x + 2, w - 4, ui_ft_hint((ui_ft_field)d->field), UI_ST_DIM);
    ui_draw_str(foot + 1, x + 2, w - 4, "Enter start  Esc close  Up/Down/Tab field  Space on/off",
                UI_ST_MARK);
}
