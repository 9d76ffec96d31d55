#include "ui_view.h"

#include "ui_draw.h"
#include "ui_keys.h"

/* Leaving the table mid-search keeps what was found. */
static void table_leave(ui_state *s)
{
    if (s->input == UI_INPUT_SEARCH)
        ui_search_accept(s);
}

const ui_view ui_view_table = {"table", ui_draw_table_view, ui_keys_table, NULL, table_leave};
const ui_view ui_view_demo = {"demo", ui_draw_demo_view, ui_keys_demo, NULL, NULL};
const ui_view ui_view_help = {"help", ui_draw_help_view, ui_keys_help, NULL, NULL};

const ui_view *ui_view_current(const ui_state *s)
{
    if (s->show_help)
        return &ui_view_help;
    return s->screen == UI_SCREEN_DEMO ? &ui_view_demo : &ui_view_table;
}

unsigned ui_view_key(ui_state *s, int key)
{
    const ui_view *before = ui_view_current(s);
    unsigned flags = before->key(s, key);
    const ui_view *after = ui_view_current(s);
    if (after != before) {
        if (before->leave)
            before->leave(s);
        if (after->enter)
            after->enter(s);
    }
    return flags;
}
