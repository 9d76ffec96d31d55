#include "ui_keys.h"

#include "ui_edit.h"
#include "ui_finetune.h"

#include <curses.h>
#include <stdio.h>

static unsigned act_move(ui_state *s, int key)
{
    ui_table_move(s, key == 'j' || key == KEY_DOWN ? 1 : -1);
    return UI_REDRAW;
}

static unsigned act_page(ui_state *s, int key)
{
    ui_table_page(s, key == KEY_NPAGE || key == UI_CTRL('f') ? 1 : -1);
    return UI_REDRAW;
}

static unsigned act_ends(ui_state *s, int key)
{
    ui_table_move_to(s, key == KEY_HOME ? 0 : s->n_rows - 1);
    return UI_REDRAW;
}

static unsigned act_search(ui_state *s, int key) { return ui_search_begin(s), UI_REDRAW; }
static unsigned act_redraw(ui_state *s, int key) { return UI_REDRAW | UI_CLEAR; }

static unsigned act_mark(ui_state *s, int key)
{
    if (s->visual)
        ui_visual_mark(s);
    else
        ui_table_mark(s);
    return UI_REDRAW;
}

static unsigned act_visual(ui_state *s, int key)
{
    if (s->visual) {
        ui_visual_mark(s);
        ui_state_message(s, "%d layers marked: the editing keys apply to them (Esc clears)",
                         s->n_marked);
    } else {
        ui_visual_begin(s);
    }
    return UI_REDRAW;
}

static unsigned act_chan(ui_state *s, int key)
{
    ui_detail_scroll(s, key == ']' ? 8 : -8);
    return UI_REDRAW;
}

static unsigned act_sort(ui_state *s, int key)
{
    ui_table_sort(s, (ui_sort)((s->sort + 1) % UI_SORT_COUNT));
    ui_state_message(s, "sorted by %s", ui_sort_name(s->sort));
    return UI_REDRAW;
}

static unsigned act_find_next(ui_state *s, int key)
{
    int dir = key == 'n' ? 1 : -1;
    if (!s->query_len)
        ui_state_message(s, "no search yet: press / to find a layer");
    else if (!ui_search_next(s, dir))
        ui_state_message(s, "no layer matches \"%s\"", s->query);
    return UI_REDRAW;
}

static unsigned act_detail(ui_state *s, int key)
{
    s->show_detail = !s->show_detail;
    return UI_REDRAW;
}

static unsigned act_panel(ui_state *s, int key)
{
    static const char *const names[UI_PANEL_COUNT] = {"channel L1", "L1 histogram",
                                                      "sensitivity"};
    s->panel = (ui_panel)((s->panel + 1) % UI_PANEL_COUNT);
    s->show_detail = true;
    ui_state_message(s, "detail pane: %s", names[s->panel]);
    return UI_REDRAW;
}

/* Esc: one thing at a time, the most recent first. */
static unsigned act_escape(ui_state *s, int key)
{
    if (s->visual)
        ui_visual_cancel(s);
    else if (s->show_detail)
        s->show_detail = false;
    else if (s->n_marked) {
        for (int i = 0; i < s->n_rows; i++)
            s->marked[i] = false;
        s->n_marked = 0;
        ui_state_message(s, "marks cleared");
    }
    return UI_REDRAW;
}

/* What an undo or redo did to fine-tuned weights. */
static const char *finetune_note(const ui_state *s, bool redo)
{
    const ui_history *other = redo ? &s->undo : &s->redo; /* where the step went */
    const ui_weights *was = other->n ? other->weights[other->n - 1] : NULL;
    if (was == s->weights)
        return "";
    if (!redo)
        return s->weights ? ": fine-tuned weights" : ": the weights before fine-tuning";
    return s->weights ? ": the fine-tuned weights again, not retrained" : "";
}

static unsigned act_undo(ui_state *s, int key)
{
    bool redo = key == UI_CTRL('r');
    if (!(redo ? ui_state_redo(s) : ui_state_undo(s)))
        ui_state_message(s, redo ? "nothing to redo" : "nothing to undo");
    else
        ui_state_message(s, "%s (%d more to undo, %d to redo)%s", redo ? "redone" : "undone",
                         s->undo.n, s->redo.n, finetune_note(s, redo));
    return UI_REDRAW;
}

static unsigned act_prune(ui_state *s, int key) { return ui_edit_cycle_prune(s), UI_REDRAW; }

static unsigned act_ratio(ui_state *s, int key)
{
    double step = key == '+' || key == '-' ? UI_RATIO_STEP : UI_RATIO_BIG_STEP;
    ui_edit_step_ratio(s, key == '+' || key == '>' ? step : -step);
    return UI_REDRAW;
}

static unsigned act_type_ratio(ui_state *s, int key)
{
    char label[96];
    if (!s->visual && !s->n_marked)
        snprintf(label, sizeof label, "prune ratio of %s (0-%g or %%): ",
                 ui_table_selected(s) ? ui_table_selected(s)->info.name : "?", UI_RATIO_MAX);
    else
        snprintf(label, sizeof label, "prune ratio of the %s layers (0-%g or %%): ",
                 s->visual ? "selected" : "marked", UI_RATIO_MAX);
    ui_prompt_begin(s, UI_PROMPT_RATIO, label, "");
    return UI_REDRAW;
}

static unsigned act_global(ui_state *s, int key)
{
    char label[128];
    if (s->visual || s->n_marked)
        snprintf(label, sizeof label, "global sparsity over the %s layers (0-%g or %%): ",
                 s->visual ? "selected" : "marked", UI_RATIO_MAX);
    else
        snprintf(label, sizeof label, "global sparsity over all %d layers (0-%g or %%): ",
                 s->n_rows, UI_RATIO_MAX);
    ui_prompt_begin(s, UI_PROMPT_GLOBAL, label, "");
    return UI_REDRAW;
}

static unsigned act_bits(ui_state *s, int key) { return ui_edit_cycle_bits(s), UI_REDRAW; }
static unsigned act_gran(ui_state *s, int key) { return ui_edit_toggle_gran(s), UI_REDRAW; }
static unsigned act_act8(ui_state *s, int key) { return ui_edit_toggle_act8(s), UI_REDRAW; }

static unsigned act_reset(ui_state *s, int key)
{
    if (key == 'R')
        ui_edit_reset_all(s);
    else
        ui_edit_reset(s);
    return UI_REDRAW;
}

/* S: the selected layer's sensitivity, pruned as it is set (l1 when it can), else by magnitude;
 * S again stops it. */
static unsigned act_sweep(ui_state *s, int key)
{
    const ui_job_report *sw = &s->job[UI_JOB_SWEEP];
    const ui_row *r = ui_table_selected(s);
    if (sw->state == UI_JOB_RUNNING || sw->state == UI_JOB_QUEUED) {
        s->req = (ui_request){.kind = UI_REQ_CANCEL_SWEEP};
        s->job[UI_JOB_SWEEP].state = UI_JOB_CANCELLED;
        ui_state_message(s, "sensitivity sweep stopped");
        return UI_REDRAW;
    }
    if (!r)
        return 0;
    int row = ui_table_row_index(s, r);
    sb_prune_method m = s->cfg.layer[row].prune == SB_PRUNE_L1 && !ui_row_why_not_l1(s, row)
                            ? SB_PRUNE_L1
                            : SB_PRUNE_MAGNITUDE;
    s->sweep_id++;
    s->req = (ui_request){.kind = UI_REQ_SWEEP, .layer = row, .method = m};
    s->job[UI_JOB_SWEEP] = (ui_job_report){.kind = UI_JOB_SWEEP,
                                           .state = UI_JOB_QUEUED,
                                           .generation = s->sweep_id,
                                           .layer = row,
                                           .method = m};
    s->show_detail = true;
    s->panel = UI_PANEL_SENS;
    ui_state_message(s, "sensitivity of %s: pruned alone by %s at 0-90%% (S stops)", r->info.name,
                     m == SB_PRUNE_L1 ? "l1" : "magnitude");
    return UI_REDRAW;
}

static unsigned act_file(ui_state *s, int key)
{
    char path[UI_PATH_MAX];
    switch (key) {
    case 'w':
        ui_default_path(s, ".config.csv", path, sizeof path);
        ui_prompt_begin(s, UI_PROMPT_SAVE_CONFIG, "save the configuration CSV to: ", path);
        break;
    case 'o':
        ui_default_path(s, ".config.csv", path, sizeof path);
        ui_prompt_begin(s, UI_PROMPT_LOAD_CONFIG, "open a configuration CSV: ", path);
        break;
    case 'W':
        ui_default_path(s, ".report.csv", path, sizeof path);
        ui_prompt_begin(s, UI_PROMPT_SAVE_REPORT, "save the report CSV to: ", path);
        break;
    default:
        ui_default_path(s, ".compressed.onnx", path, sizeof path);
        ui_prompt_begin(s, UI_PROMPT_EXPORT, "export the compressed model to: ", path);
        break;
    }
    return UI_REDRAW;
}

/* F: the fine-tuning dialog; F again while it runs cancels it. */
static unsigned act_finetune(ui_state *s, int key)
{
    if (ui_state_training(s)) {
        ui_ft_cancel(s);
    } else if (ui_ft_open(s)) {
        s->screen = UI_SCREEN_TABLE; /* the dialog is drawn over the table */
    }
    return UI_REDRAW;
}

static unsigned act_demo(ui_state *s, int key)
{
    s->screen = s->screen == UI_SCREEN_DEMO ? UI_SCREEN_TABLE : UI_SCREEN_DEMO;
    return UI_REDRAW;
}

static unsigned act_help(ui_state *s, int key)
{
    s->show_help = true;
    return UI_REDRAW;
}

/* Unsaved work: offer to save it first. */
static unsigned act_quit(ui_state *s, int key)
{
    if (s->weights && !s->weights->exported && !s->quit_warned) {
        s->quit_warned = true;
        ui_state_error(s, "the fine-tuned weights are not exported and will be lost: e exports "
                          "them; q again quits");
        return UI_REDRAW;
    }
    if (!ui_state_has_unsaved(s))
        return UI_QUIT;
    s->input = UI_INPUT_CONFIRM_QUIT;
    ui_state_message(s,
                     "unsaved configuration: save it first? y: save  n: quit without  Esc: stay");
    return UI_REDRAW;
}

static const ui_binding bindings[] = {
    {{'j', KEY_DOWN, 'k', KEY_UP}, "j k Dn Up", "next / previous layer", UI_ON_TABLE, act_move},
    {{KEY_NPAGE, KEY_PPAGE, UI_CTRL('f'), UI_CTRL('b')}, "PgDn PgUp", "page down / up (^F ^B)",
     UI_ON_TABLE, act_page},
    {{KEY_HOME, KEY_END}, "Home End", "first / last layer", UI_ON_TABLE, act_ends},
    {{'s'}, "s", "cycle the sort order", UI_ON_TABLE, act_sort},
    {{'/'}, "/", "find a layer by name", UI_ON_TABLE, act_search},
    {{'n', 'N'}, "n N", "next / previous match", UI_ON_TABLE, act_find_next},
    {{' '}, "Space", "mark the layer, move down", UI_ON_TABLE, act_mark},
    {{'v'}, "v", "visual range; v marks it", UI_ON_TABLE, act_visual},
    {{'\n', '\r', KEY_ENTER, '\t'}, "Enter Tab", "layer detail pane", UI_ON_TABLE, act_detail},
    {{'d'}, "d", "detail: channels/hist/sens", UI_ON_TABLE, act_panel},
    {{']', '['}, "] [", "detail: next/prev channels", UI_ON_TABLE, act_chan},
    {{UI_KEY_ESC}, "Esc", "drop range, pane, marks", UI_ON_TABLE, act_escape},
    {{'p'}, "p", "prune: none/magnitude/l1", UI_ON_TABLE, act_prune},
    {{'+', '-'}, "+ -", "prune ratio +/- 5%", UI_ON_TABLE, act_ratio},
    {{'>', '<'}, "> <", "prune ratio +/- 10%", UI_ON_TABLE, act_ratio},
    {{'='}, "=", "type the prune ratio", UI_ON_TABLE, act_type_ratio},
    {{'G'}, "G", "global prune (marked/all)", UI_ON_TABLE, act_global},
    {{'b'}, "b", "weight bits 32/8/6/4/2", UI_ON_TABLE, act_bits},
    {{'g'}, "g", "granularity channel/tensor", UI_ON_TABLE, act_gran},
    {{'a'}, "a", "8-bit activations on/off", UI_ON_TABLE, act_act8},
    {{'r', 'R'}, "r R", "reset layer / all layers", UI_ON_TABLE, act_reset},
    {{'u', UI_CTRL('r')}, "u ^R", "undo / redo", UI_ON_TABLE, act_undo},
    {{'S'}, "S", "sensitivity sweep on/off", UI_ON_TABLE, act_sweep},
    {{'w'}, "w", "save configuration CSV", UI_ON_TABLE, act_file},
    {{'o'}, "o", "open configuration CSV", UI_ON_TABLE, act_file},
    {{'W'}, "W", "save report CSV", UI_ON_TABLE, act_file},
    {{'e'}, "e", "export compressed ONNX", UI_ON_TABLE, act_file},
    {{'F'}, "F", "fine-tune (again: cancel)", UI_ON_ALL, act_finetune},
    {{'D'}, "D", "workshop before/after view", UI_ON_ALL, act_demo},
    {{'?', KEY_F(1)}, "? F1", "this help", UI_ON_ALL, act_help},
    {{UI_CTRL('l')}, "^L", "repaint the screen", UI_ON_ALL, act_redraw},
    {{'q', KEY_F(10)}, "q F10", "quit", UI_ON_ALL, act_quit},
};

const ui_binding *ui_keys_bindings(int *n)
{
    *n = (int)(sizeof bindings / sizeof bindings[0]);
    return bindings;
}

static const ui_binding *lookup(int key, unsigned where)
{
    for (size_t i = 0; i < sizeof bindings / sizeof bindings[0]; i++)
        for (int k = 0; k < UI_MAX_KEYS && bindings[i].keys[k]; k++)
            if (bindings[i].keys[k] == key && (bindings[i].where & where))
                return &bindings[i];
    return NULL;
}

static unsigned confirm_key(ui_state *s, int key)
{
    char path[UI_PATH_MAX];
    switch (key) {
    case 'y':
    case 'Y':
        ui_default_path(s, ".config.csv", path, sizeof path);
        ui_prompt_begin(s, UI_PROMPT_SAVE_CONFIG, "save, then quit: ", path);
        s->prompt.quit_after = true;
        s->message[0] = 0;
        return UI_HANDLED | UI_REDRAW;
    case 'n':
    case 'N': s->input = UI_INPUT_NORMAL; return UI_HANDLED | UI_QUIT;
    case UI_KEY_ESC:
    case 'c':
    case UI_CTRL('g'):
        s->input = UI_INPUT_NORMAL;
        s->message[0] = 0;
        return UI_HANDLED | UI_REDRAW;
    default: return UI_HANDLED; /* still asking */
    }
}

static bool is_erase(int key) { return key == KEY_BACKSPACE || key == 127 || key == '\b'; }
static bool is_enter(int key) { return key == '\n' || key == '\r' || key == KEY_ENTER; }

static unsigned search_key(ui_state *s, int key)
{
    if (is_enter(key))
        ui_search_accept(s);
    else if (key == UI_KEY_ESC || key == UI_CTRL('g'))
        ui_search_cancel(s);
    else if (is_erase(key))
        ui_search_erase(s);
    else if (key == KEY_DOWN || key == UI_CTRL('n'))
        ui_search_next(s, 1);
    else if (key == KEY_UP || key == UI_CTRL('p'))
        ui_search_next(s, -1);
    else if (key < 32 || key > 126)
        return UI_HANDLED;
    else
        ui_search_type(s, key);
    return UI_HANDLED | UI_REDRAW;
}

static unsigned prompt_key(ui_state *s, int key)
{
    if (is_enter(key))
        ui_prompt_accept(s);
    else if (key == UI_KEY_ESC || key == UI_CTRL('g'))
        ui_prompt_cancel(s);
    else if (is_erase(key))
        ui_prompt_erase(s);
    else if (key == UI_CTRL('u'))
        ui_prompt_clear(s);
    else if (key < 32 || key > 126)
        return UI_HANDLED;
    else
        ui_prompt_type(s, key);
    return UI_HANDLED | UI_REDRAW;
}

/* While a fine-tune runs the Config and the current model stay as they are: the keys that
 * would change them, or queue work behind the training, wait. */
static bool waits_for_training(const ui_binding *b, int key)
{
    static const ui_action edits[] = {act_prune, act_ratio, act_type_ratio, act_global, act_bits,
                                      act_gran,  act_act8,  act_reset,      act_undo,   act_sweep};
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++)
        if (b->act == edits[i])
            return true;
    return b->act == act_file && key != 'w';
}

static unsigned dispatch(ui_state *s, int key, unsigned where)
{
    if (s->input == UI_INPUT_CONFIRM_QUIT)
        return confirm_key(s, key);
    if (s->input == UI_INPUT_PROMPT)
        return prompt_key(s, key);
    if (s->input == UI_INPUT_FINETUNE && (where & UI_ON_TABLE))
        return ui_ft_key(s, key);
    if (s->input == UI_INPUT_SEARCH && (where & UI_ON_TABLE))
        return search_key(s, key);
    s->message[0] = 0;
    const ui_binding *b = lookup(key, where);
    if (b && ui_state_training(s) && waits_for_training(b, key)) {
        ui_state_message(s, "fine-tuning: edits wait until it ends (F cancels it)");
        return UI_HANDLED | UI_REDRAW;
    }
    if (b && b->act != act_quit)
        s->quit_warned = false;
    return b ? UI_HANDLED | b->act(s, key) : 0;
}

unsigned ui_keys_table(ui_state *s, int key) { return dispatch(s, key, UI_ON_TABLE); }
unsigned ui_keys_demo(ui_state *s, int key) { return dispatch(s, key, UI_ON_DEMO); }

/* Any key closes the help; it is not acted on as well, so q here does not quit. */
unsigned ui_keys_help(ui_state *s, int key)
{
    s->show_help = false;
    return UI_HANDLED | UI_REDRAW;
}

unsigned ui_keys_mouse(ui_state *s, const ui_layout *l, ui_mouse what, int y, int x)
{
    if (s->show_help || s->screen != UI_SCREEN_TABLE || s->input != UI_INPUT_NORMAL)
        return 0;
    if (what != UI_MOUSE_SELECT) {
        ui_table_move(s, what == UI_MOUSE_WHEEL_UP ? -3 : 3);
        return UI_HANDLED | UI_REDRAW;
    }
    return ui_table_click(s, ui_layout_body_row(l, y, x)) ? UI_HANDLED | UI_REDRAW : 0;
}
