/* The workbench's UI state machine, driven without a terminal: table navigation and scrolling,
 * sorting, search, marking and visual ranges, keys, editing (prune, quantise, global, reset,
 * loads), undo/redo generations, job reports, the header lines, layout and text. */
#include "ui_args.h"
#include "ui_edit.h"
#include "ui_finetune.h"
#include "ui_format.h"
#include "ui_keys.h"
#include "ui_layout.h"
#include "ui_session.h"
#include "ui_state.h"
#include "ui_summary.h"
#include "ui_view.h"

#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N = 30 };
static char names[N][32];
static sb_layer_info infos[N];
static double l1_store[N][4];
static const double *l1[N];
static ui_group groups[N];
static int members[N][2], group_of[N];
static ui_state s;

/* Channel groups as the engine describes them: layer i produces group i, consumed by layer i+1;
 * layer 3 also produces group 2 (as the two branches of an Add do); the last layer's channels
 * are the model's output, so its group cannot be pruned. */
static void setup_groups(void)
{
    for (int i = 0; i < N; i++) {
        members[i][0] = i;
        members[i][1] = i + 1 < N ? i + 1 : i;
        groups[i] = (ui_group){.channels = 4,
                               .n_members = i + 1 < N ? 2 : 1,
                               .members = members[i],
                               .prunable = i != N - 1,
                               .why_not = i == N - 1 ? "they reach the model's output" : NULL,
                               .importance = l1_store[i]};
        group_of[i] = i == 3 ? 2 : i;
    }
    cr_assert(ui_state_set_groups(&s, groups, N, group_of));
}

/* 30 layers "layer0.conv" .. "layer29.conv"; MACs rise with the index, params fall. */
static void setup(void)
{
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], i == 7 ? "Head.FC" : "layer%d.conv", i);
        infos[i] = (sb_layer_info){.name = names[i],
                                   .node_name = names[i],
                                   .op = "Conv",
                                   .params = 1000 - i,
                                   .macs = 100 + i,
                                   .zeros = i,
                                   .out_channels = 4,
                                   .out_shape = {4, {1, 4, 8, 8}}};
        for (int c = 0; c < 4; c++)
            l1_store[i][c] = c + 1; /* channel 3 is the largest */
        l1[i] = l1_store[i];
    }
    ui_state_init(&s);
    s.totals = (sb_model_totals){.params = 29565, .macs = 3435, .all_params = 30000};
    cr_assert(ui_state_set_layers(&s, infos, l1, N));
    setup_groups();
    ui_table_set_page(&s, 10);
}

static void teardown(void) { ui_state_free(&s); }

TestSuite(table, .init = setup, .fini = teardown);
TestSuite(keys, .init = setup, .fini = teardown);
TestSuite(jobs, .init = setup, .fini = teardown);
TestSuite(layout, .init = setup, .fini = teardown);
TestSuite(edit, .init = setup, .fini = teardown);
TestSuite(files, .init = setup, .fini = teardown);
TestSuite(header, .init = setup, .fini = teardown);

static void edit_prune(int layer, double ratio)
{
    sb_config next;
    sb_error err = {0};
    cr_assert_eq(sb_config_copy(&s.cfg, &next, &err), SB_OK);
    next.layer[layer].prune = SB_PRUNE_MAGNITUDE;
    next.layer[layer].ratio = ratio;
    cr_assert(ui_state_edit(&s, &next));
    sb_config_free(&next);
}

static const char *selected_name(void) { return ui_table_selected(&s)->info.name; }

static void keys(const char *k)
{
    for (; *k; k++)
        ui_view_key(&s, *k);
}

/* ---- navigation and the scrolling window ---- */

Test(table, moves_and_clamps)
{
    ui_table_move(&s, -1);
    cr_assert_eq(s.sel, 0);
    ui_table_move(&s, 3);
    cr_assert_eq(s.sel, 3);
    ui_table_move(&s, 1000);
    cr_assert_eq(s.sel, N - 1);
    ui_table_move_to(&s, -5);
    cr_assert_eq(s.sel, 0);
}

Test(table, window_follows_selection)
{
    ui_table_move_to(&s, 15);
    cr_assert_eq(s.top, 6, "selection on the last visible row");
    ui_table_move_to(&s, 3);
    cr_assert_eq(s.top, 3, "selection on the first visible row");
    ui_table_move_to(&s, N - 1);
    cr_assert_eq(s.top, N - 10);
    ui_table_set_page(&s, 50); /* the terminal grew: everything fits */
    cr_assert_eq(s.top, 0);
    cr_assert_eq(s.sel, N - 1);
}

Test(table, page_moves_window_and_selection)
{
    ui_table_page(&s, 1);
    cr_assert_eq(s.sel, 10);
    cr_assert_eq(s.top, 10);
    ui_table_page(&s, 1);
    ui_table_page(&s, 1);
    cr_assert_eq(s.sel, N - 1);
    cr_assert_eq(s.top, N - 10, "the window never runs past the end");
    ui_table_page(&s, -1);
    cr_assert_eq(s.sel, N - 11);
    cr_assert_eq(s.top, N - 20);
}

Test(table, click_selects_visible_rows_only)
{
    ui_table_move_to(&s, 12); /* top 3 */
    cr_assert(ui_table_click(&s, 2));
    cr_assert_eq(s.sel, 5);
    cr_assert_not(ui_table_click(&s, -1));
    ui_table_set_page(&s, 40);
    cr_assert_not(ui_table_click(&s, N + 2), "below the last row");
    cr_assert_eq(s.sel, 5);
}

Test(table, empty_table_is_safe)
{
    ui_state e;
    ui_state_init(&e);
    cr_assert(ui_state_set_layers(&e, NULL, NULL, 0));
    ui_table_move(&e, 1);
    ui_table_page(&e, 1);
    ui_table_mark(&e);
    ui_table_sort(&e, UI_SORT_MACS);
    cr_assert_null(ui_table_selected(&e));
    cr_assert_not(ui_search_next(&e, 1));
    ui_state_free(&e);
}

/* ---- sorting ---- */

Test(table, sort_orders_and_selection_follows_the_row)
{
    ui_table_move_to(&s, 4);
    ui_table_sort(&s, UI_SORT_MACS);
    cr_assert_str_eq(s.rows[s.order[0]].info.name, "layer29.conv", "most MACs first");
    cr_assert_str_eq(selected_name(), "layer4.conv");
    cr_assert_eq(s.sel, N - 1 - 4);
    ui_table_sort(&s, UI_SORT_PARAMS);
    cr_assert_str_eq(s.rows[s.order[0]].info.name, "layer0.conv", "most params first");
    ui_table_sort(&s, UI_SORT_NAME);
    cr_assert_str_eq(s.rows[s.order[0]].info.name, "Head.FC");
    cr_assert_str_eq(s.rows[s.order[1]].info.name, "layer0.conv");
    cr_assert_str_eq(s.rows[s.order[3]].info.name, "layer2.conv", "layer2 before layer10");
    ui_table_sort(&s, UI_SORT_ORDER);
    for (int i = 0; i < N; i++)
        cr_assert_eq(s.order[i], i);
    cr_assert_str_eq(selected_name(), "layer4.conv");
}

Test(keys, s_cycles_sorts)
{
    static const ui_sort cycle[] = {UI_SORT_MACS, UI_SORT_PARAMS, UI_SORT_NAME, UI_SORT_TIME,
                                    UI_SORT_ORDER};
    for (int i = 0; i < 5; i++) {
        cr_assert(ui_view_key(&s, 's') & UI_REDRAW);
        cr_assert_eq(s.sort, cycle[i]);
        cr_assert(strstr(s.message, ui_sort_name(cycle[i])));
    }
}

/* ---- search ---- */

Test(table, incremental_search)
{
    ui_search_begin(&s);
    ui_search_type(&s, 'l');
    ui_search_type(&s, 'a');
    cr_assert_str_eq(selected_name(), "layer0.conv");
    ui_search_type(&s, 'y');
    ui_search_type(&s, 'e');
    ui_search_type(&s, 'r');
    ui_search_type(&s, '1');
    ui_search_type(&s, '2');
    cr_assert_str_eq(selected_name(), "layer12.conv");
    ui_search_type(&s, 'x');
    cr_assert(s.search_failed);
    cr_assert_str_eq(selected_name(), "layer12.conv", "a failed search stays put");
    ui_search_erase(&s);
    cr_assert_not(s.search_failed);
    ui_search_accept(&s);
    cr_assert_eq(s.input, UI_INPUT_NORMAL);
    cr_assert_str_eq(s.query, "layer12");
}

Test(table, search_is_case_insensitive_and_wraps)
{
    ui_table_move_to(&s, 20);
    ui_search_begin(&s);
    ui_search_type(&s, 'h');
    ui_search_type(&s, 'E');
    cr_assert_str_eq(selected_name(), "Head.FC");
    ui_search_cancel(&s);
    cr_assert_eq(s.sel, 20, "Esc returns to where the search began");
}

Test(table, next_and_previous_match)
{
    ui_search_begin(&s);
    ui_search_type(&s, '2');
    cr_assert_str_eq(selected_name(), "layer2.conv");
    ui_search_accept(&s);
    cr_assert(ui_search_next(&s, 1));
    cr_assert_str_eq(selected_name(), "layer12.conv");
    cr_assert(ui_search_next(&s, -1));
    cr_assert_str_eq(selected_name(), "layer2.conv");
    cr_assert(ui_search_next(&s, -1));
    cr_assert_str_eq(selected_name(), "layer29.conv", "wraps backwards");
}

Test(keys, slash_search_enter)
{
    keys("jj/");
    cr_assert_eq(s.input, UI_INPUT_SEARCH);
    keys("head");
    ui_view_key(&s, '\n');
    cr_assert_eq(s.input, UI_INPUT_NORMAL);
    cr_assert_str_eq(selected_name(), "Head.FC");
    keys("/q");
    cr_assert_eq(s.input, UI_INPUT_SEARCH, "q is text while searching, not quit");
    ui_view_key(&s, UI_KEY_ESC);
    cr_assert_str_eq(selected_name(), "Head.FC");
    ui_view_key(&s, 'n');
    cr_assert_str_eq(selected_name(), "Head.FC", "n repeats the accepted search");
}

/* ---- marking ---- */

Test(table, marks_toggle_count_and_follow_rows)
{
    ui_table_mark(&s);
    ui_table_mark(&s);
    cr_assert_eq(s.n_marked, 2);
    cr_assert_eq(s.sel, 2, "space moves on to the next layer");
    cr_assert(s.marked[0] && s.marked[1]);
    ui_table_move_to(&s, 1);
    ui_table_mark(&s);
    cr_assert_eq(s.n_marked, 1);
    cr_assert_not(s.marked[1]);
    ui_table_sort(&s, UI_SORT_MACS); /* marks belong to layers, not positions */
    cr_assert(s.marked[0]);
    cr_assert_eq(s.order[N - 1], 0);
    ui_table_move_to(&s, N - 1);
    ui_table_mark(&s);
    cr_assert_eq(s.n_marked, 0);
    cr_assert_eq(s.sel, N - 1, "marking the last row stays on it");
}

/* ---- keys ---- */

Test(keys, movement_keys)
{
    keys("jjj");
    cr_assert_eq(s.sel, 3);
    keys("k");
    cr_assert_eq(s.sel, 2);
    ui_view_key(&s, KEY_END);
    cr_assert_eq(s.sel, N - 1);
    ui_view_key(&s, KEY_HOME);
    cr_assert_eq(s.sel, 0);
    ui_view_key(&s, KEY_HOME);
    ui_view_key(&s, KEY_END);
    cr_assert_eq(s.sel, N - 1);
    ui_view_key(&s, KEY_PPAGE);
    cr_assert_eq(s.sel, N - 11);
    ui_view_key(&s, KEY_NPAGE);
    cr_assert_eq(s.sel, N - 1);
    cr_assert_eq(ui_view_key(&s, 'Z'), 0u, "unbound keys are not handled");
}

Test(keys, help_opens_and_any_key_closes_it_without_acting)
{
    cr_assert(ui_view_key(&s, '?') & UI_REDRAW);
    cr_assert(s.show_help);
    cr_assert_eq(ui_view_current(&s), &ui_view_help);
    unsigned f = ui_view_key(&s, 'q');
    cr_assert_not(f & UI_QUIT, "q closes the help first");
    cr_assert_not(s.show_help);
    cr_assert(ui_view_key(&s, 'q') & UI_QUIT);
}

Test(keys, quit_asks_when_there_is_unsaved_work)
{
    edit_prune(0, 0.5);
    cr_assert_not(ui_view_key(&s, 'q') & UI_QUIT);
    cr_assert_eq(s.input, UI_INPUT_CONFIRM_QUIT);
    cr_assert(strstr(s.message, "unsaved"));
    cr_assert_not(ui_view_key(&s, 'x') & UI_QUIT, "other keys keep asking");
    cr_assert_eq(s.input, UI_INPUT_CONFIRM_QUIT);
    cr_assert_not(ui_view_key(&s, UI_KEY_ESC) & UI_QUIT, "Esc stays");
    cr_assert_eq(s.input, UI_INPUT_NORMAL);
    ui_view_key(&s, 'q');
    cr_assert(ui_view_key(&s, 'n') & UI_QUIT, "n quits without saving");
}

Test(keys, quit_y_saves_first_then_quits)
{
    s.model_path = "models/net.onnx";
    edit_prune(0, 0.5);
    ui_view_key(&s, 'q');
    cr_assert_not(ui_view_key(&s, 'y') & UI_QUIT, "y asks where to save");
    cr_assert_eq(s.input, UI_INPUT_PROMPT);
    cr_assert_str_eq(s.prompt.text, "models/net.config.csv");
    ui_view_key(&s, '\n');
    cr_assert_eq(s.req.kind, UI_REQ_SAVE_CONFIG);
    cr_assert(s.req.quit_after, "the main loop quits once the file is written");
    cr_assert_str_eq(s.req.path, "models/net.config.csv");
}

Test(keys, detail_pane_and_channel_scroll)
{
    ui_view_key(&s, '\n');
    cr_assert(s.show_detail);
    ui_view_key(&s, ']');
    cr_assert_eq(s.detail_scroll, 3, "clamped to the last of 4 channels");
    ui_view_key(&s, '[');
    cr_assert_eq(s.detail_scroll, 0);
    ui_view_key(&s, ']');
    ui_view_key(&s, 'j');
    cr_assert_eq(s.detail_scroll, 0, "a new layer starts at its strongest channel");
    ui_view_key(&s, '\t');
    cr_assert_not(s.show_detail);
}

Test(keys, demo_view_has_only_global_keys)
{
    ui_view_key(&s, 'D');
    cr_assert_eq(ui_view_current(&s), &ui_view_demo);
    cr_assert_eq(ui_view_key(&s, 'j'), 0u);
    cr_assert_eq(s.sel, 0);
    ui_view_key(&s, '?');
    cr_assert_eq(ui_view_current(&s), &ui_view_help);
    ui_view_key(&s, ' ');
    ui_view_key(&s, 'D');
    cr_assert_eq(ui_view_current(&s), &ui_view_table);
}

Test(keys, every_binding_is_documented_and_unambiguous)
{
    int n;
    const ui_binding *b = ui_keys_bindings(&n);
    cr_assert_gt(n, 15);
    for (int i = 0; i < n; i++) {
        cr_assert(b[i].label && *b[i].label && b[i].help && *b[i].help && b[i].act);
        for (int k = 0; k < UI_MAX_KEYS && b[i].keys[k]; k++)
            for (int j = i + 1; j < n; j++)
                for (int m = 0; m < UI_MAX_KEYS && b[j].keys[m]; m++)
                    cr_assert(b[i].keys[k] != b[j].keys[m] || !(b[i].where & b[j].where),
                              "key %d bound twice (%s, %s)", b[i].keys[k], b[i].help, b[j].help);
    }
}

/* ---- editing, undo and generations ---- */

Test(jobs, edits_undo_redo_bump_the_generation)
{
    cr_assert_not(ui_state_has_unsaved(&s));
    cr_assert_not(ui_state_undo(&s));
    edit_prune(3, 0.5);
    edit_prune(4, 0.25);
    cr_assert_eq(s.generation, 2);
    cr_assert(ui_state_has_unsaved(&s));
    cr_assert(ui_state_undo(&s));
    cr_assert_eq(s.generation, 3);
    cr_assert_float_eq(s.cfg.layer[4].ratio, 0.0, 1e-12);
    cr_assert_float_eq(s.cfg.layer[3].ratio, 0.5, 1e-12);
    cr_assert(ui_state_redo(&s));
    cr_assert_float_eq(s.cfg.layer[4].ratio, 0.25, 1e-12);
    cr_assert(ui_state_undo(&s));
    cr_assert(ui_state_undo(&s));
    cr_assert_not(ui_state_has_unsaved(&s), "undone back to the saved Config");
    cr_assert(ui_state_redo(&s));
    edit_prune(5, 0.1);
    cr_assert_not(ui_state_redo(&s), "a new edit drops the redo stack");
    ui_view_key(&s, 'u');
    ui_view_key(&s, 'u');
    cr_assert_float_eq(s.cfg.layer[3].ratio, 0.0, 1e-12);
    ui_view_key(&s, 'u');
    cr_assert_str_eq(s.message, "nothing to undo");
    ui_view_key(&s, UI_CTRL('r'));
    cr_assert_float_eq(s.cfg.layer[3].ratio, 0.5, 1e-12);
}

static ui_job_report report(ui_job_kind k, ui_job_state st, uint64_t gen)
{
    return (ui_job_report){.kind = k,
                           .state = st,
                           .generation = gen,
                           .progress = {.done = 640, .total = 10000, .correct1 = 580}};
}

Test(jobs, accuracy_settles_then_latency_once)
{
    uint64_t gen = 99;
    ui_job_report r = report(UI_JOB_EVAL, UI_JOB_RUNNING, 0);
    cr_assert_eq(ui_state_on_report(&s, &r, &gen), UI_JOB_NONE);
    cr_assert_eq(s.base[UI_JOB_EVAL].progress.done, 640);
    r.state = UI_JOB_DONE;
    cr_assert_eq(ui_state_on_report(&s, &r, &gen), UI_JOB_LATENCY);
    cr_assert_eq(gen, 0u);
    ui_state_job_queued(&s, UI_JOB_LATENCY, 0);
    cr_assert_eq(ui_state_on_report(&s, &r, &gen), UI_JOB_NONE, "latency is queued once");
    cr_assert_eq(s.base[UI_JOB_LATENCY].state, UI_JOB_QUEUED);
}

Test(jobs, stale_reports_are_dropped_but_the_baseline_always_lands)
{
    uint64_t gen;
    edit_prune(0, 0.5);
    edit_prune(0, 0.6);
    ui_job_report r = report(UI_JOB_EVAL, UI_JOB_DONE, 1);
    cr_assert_eq(ui_state_on_report(&s, &r, &gen), UI_JOB_NONE, "an older edit's result");
    cr_assert_eq(s.job[UI_JOB_EVAL].state, UI_JOB_IDLE);
    cr_assert_eq(s.last[UI_JOB_EVAL].state, UI_JOB_IDLE);
    r.generation = 0; /* the baseline, finishing after the edits were made */
    cr_assert_eq(ui_state_on_report(&s, &r, &gen), UI_JOB_LATENCY);
    cr_assert_eq(gen, 0u);
    cr_assert_eq(s.base[UI_JOB_EVAL].state, UI_JOB_DONE);
    cr_assert_eq(s.job[UI_JOB_EVAL].state, UI_JOB_IDLE);
    r.generation = 2;
    cr_assert_eq(ui_state_on_report(&s, &r, &gen), UI_JOB_LATENCY);
    cr_assert_eq(gen, 2u);
    cr_assert_eq(s.job[UI_JOB_EVAL].state, UI_JOB_DONE);
}

Test(jobs, running_accuracy_is_an_estimate_with_an_interval)
{
    ui_metric m;
    ui_job_report r = report(UI_JOB_EVAL, UI_JOB_RUNNING, 0);
    ui_metric_top1(&r, false, &m);
    cr_assert_eq(m.kind, UI_METRIC_ESTIMATE);
    cr_assert_str_eq(m.text, "~90.6%");
    cr_assert(strstr(m.note, "estimate"), "%s", m.note);
    cr_assert(strstr(m.note, "640/10000"), "%s", m.note);
    cr_assert(m.lo < 0.906 && m.hi > 0.906 && m.hi - m.lo < 0.05);
    cr_assert_float_eq(m.done, 0.064, 1e-9);
    r = (ui_job_report){.kind = UI_JOB_EVAL,
                        .state = UI_JOB_DONE,
                        .seconds = 1.5,
                        .progress = {10000, 10000, 9184, 9971}};
    ui_metric_top1(&r, false, &m);
    cr_assert_eq(m.kind, UI_METRIC_FINAL);
    cr_assert_str_eq(m.text, "91.84%");
    cr_assert(strstr(m.note, "top-5 99.71%"), "%s", m.note);
    r = (ui_job_report){.kind = UI_JOB_EVAL, .state = UI_JOB_FAILED, .error = "bad data"};
    ui_metric_top1(&r, false, &m);
    cr_assert_eq(m.kind, UI_METRIC_ERROR);
    cr_assert_str_eq(m.note, "bad data");
}

Test(jobs, latency_waits_for_accuracy)
{
    ui_metric m;
    ui_job_report lat = {.kind = UI_JOB_LATENCY}, eval = report(UI_JOB_EVAL, UI_JOB_RUNNING, 0);
    ui_metric_latency(&lat, &eval, false, &m);
    cr_assert_eq(m.kind, UI_METRIC_WAITING);
    cr_assert(strstr(m.note, "once accuracy settles"));
    lat.state = UI_JOB_DONE;
    lat.latency = (sb_latency){
        .median_ms = 0.4123, .min_ms = 0.39, .max_ms = 0.6, .runs = 2000, .threads = 2};
    ui_metric_latency(&lat, &eval, false, &m);
    cr_assert_str_eq(m.text, "0.412 ms");
    cr_assert(strstr(m.note, "2 threads"), "%s", m.note);
}

/* ---- layout ---- */

Test(layout, table_fills_80x24)
{
    ui_layout l = ui_layout_compute(80, 24, &s);
    cr_assert_not(l.too_small);
    cr_assert_eq(l.body_rows, 24 - UI_HEADER_LINES - 1 - 2);
    cr_assert_eq(l.status.y, 23);
    cr_assert_eq(l.detail.h, 0);
    cr_assert_eq(ui_layout_body_row(&l, l.body_y, 5), 0);
    cr_assert_eq(ui_layout_body_row(&l, l.body_y - 1, 5), -1, "column titles");
    cr_assert_eq(ui_layout_body_row(&l, 23, 5), -1, "status line");
}

Test(layout, detail_below_when_narrow_beside_when_wide)
{
    s.show_detail = true;
    ui_layout l = ui_layout_compute(80, 24, &s);
    cr_assert_eq(l.detail.w, 80);
    cr_assert_eq(l.detail.y + l.detail.h, l.status.y);
    cr_assert_eq(l.table.y + l.table.h, l.detail.y);
    cr_assert_geq(l.body_rows, 5);
    l = ui_layout_compute(200, 60, &s);
    cr_assert_eq(l.detail.x + l.detail.w, 200);
    cr_assert_eq(l.detail.h, l.table.h);
    cr_assert_lt(l.table.w, l.detail.x);
    cr_assert_eq(ui_layout_body_row(&l, l.body_y, l.detail.x + 1), -1, "a click in the pane");
    cr_assert(ui_layout_compute(30, 8, &s).too_small);
}

static int colset_width(const ui_colset *cs)
{
    return cs->n ? cs->x[cs->n - 1] + cs->w[cs->n - 1] : 0;
}

static bool has_col(const ui_colset *cs, ui_col_id id)
{
    for (int i = 0; i < cs->n; i++)
        if (cs->id[i] == id)
            return true;
    return false;
}

Test(layout, columns_fit_the_width)
{
    ui_colset cs = ui_table_columns(&s, 120);
    cr_assert_eq(cs.n, UI_COL_COUNT - 2, "every column but sens (no sweep) and speed (no edit)");
    cs = ui_table_columns(&s, 80);
    cr_assert_leq(colset_width(&cs), 80);
    for (ui_col_id id = UI_COL_NAME; id <= UI_COL_TIME; id++)
        cr_assert(has_col(&cs, id) || id == UI_COL_OP || id == UI_COL_SHAPE ||
                      id == UI_COL_MACS_PCT,
                  "at 80 columns only op, output and %%MACs give way (column %d)", id);
    cr_assert_eq(cs.id[0], UI_COL_NAME);
    cs = ui_table_columns(&s, 50);
    cr_assert_lt(cs.n, UI_COL_COUNT);
    cr_assert_leq(colset_width(&cs), 50);
    cr_assert_geq(cs.w[0], 10, "the name stays readable");
    bool has_macs = false;
    for (int i = 0; i < cs.n; i++)
        has_macs |= cs.id[i] == UI_COL_MACS;
    cr_assert(has_macs, "MACs are never dropped");
}

Test(layout, cells)
{
    char buf[128];
    const ui_row *r = &s.rows[29];
    cr_assert_str_eq(ui_table_cell(&s, r, UI_COL_SHAPE, 0, buf, sizeof buf), "4x8x8");
    cr_assert_str_eq(ui_table_cell(&s, r, UI_COL_MACS_PCT, 0, buf, sizeof buf), "3.8%");
    cr_assert_str_eq(ui_table_cell(&s, r, UI_COL_PRUNE, 0, buf, sizeof buf), "-");
    cr_assert_str_eq(ui_table_cell(&s, r, UI_COL_QUANT, 0, buf, sizeof buf), "-");
    s.cfg.layer[29] =
        (sb_layer_config){.prune = SB_PRUNE_L1, .ratio = 0.25, .wbits = 8, .act8 = true};
    cr_assert_str_eq(ui_table_cell(&s, r, UI_COL_PRUNE, 0, buf, sizeof buf), "l1 25%");
    cr_assert_str_eq(ui_table_cell(&s, r, UI_COL_QUANT, 0, buf, sizeof buf), "int8 ch a8");
    s.cfg.layer[28] = (sb_layer_config){.prune = SB_PRUNE_MAGNITUDE, .ratio = 0.3, .wbits = 4,
                                        .gran = SB_GRAN_TENSOR};
    cr_assert_str_eq(ui_table_cell(&s, &s.rows[28], UI_COL_PRUNE, 0, buf, sizeof buf), "mag 30%");
    cr_assert_str_eq(ui_table_cell(&s, &s.rows[28], UI_COL_QUANT, 0, buf, sizeof buf), "int4 t");
    s.cfg.layer[27] = (sb_layer_config){.prune = SB_PRUNE_GLOBAL, .wbits = 32};
    s.cfg.global_ratio = 0.7;
    cr_assert_str_eq(ui_table_cell(&s, &s.rows[27], UI_COL_PRUNE, 0, buf, sizeof buf), "glob 70%");
    cr_assert_str_eq(ui_table_cell(&s, r, UI_COL_L1, 8, buf, sizeof buf), "@*=:");
    cr_assert_str_eq(ui_table_cell(&s, NULL, UI_COL_NAME, 0, buf, sizeof buf), "total: 30 layers");
    cr_assert_str_eq(ui_table_cell(&s, NULL, UI_COL_PARAMS, 0, buf, sizeof buf), "29.6k");
    cr_assert_eq(r->l1_channel[0], 3, "channels sorted strongest first");
}

/* ---- text ---- */

Test(format, counts_and_percentages)
{
    char b[32];
    cr_assert_str_eq(ui_fmt_count(b, sizeof b, 448), "448");
    cr_assert_str_eq(ui_fmt_count(b, sizeof b, 9999), "9999");
    cr_assert_str_eq(ui_fmt_count(b, sizeof b, 78312), "78.3k");
    cr_assert_str_eq(ui_fmt_count(b, sizeof b, 999950), "1.00M");
    cr_assert_str_eq(ui_fmt_count(b, sizeof b, 12500000), "12.5M");
    cr_assert_str_eq(ui_fmt_count(b, sizeof b, 3210000000LL), "3.21G");
    cr_assert_str_eq(ui_fmt_pct(b, sizeof b, 0), "0.0%");
    cr_assert_str_eq(ui_fmt_pct(b, sizeof b, 0.0001), "<0.1%");
    cr_assert_str_eq(ui_fmt_pct(b, sizeof b, 0.99996), "99.9%");
    cr_assert_str_eq(ui_fmt_pct(b, sizeof b, 1), "100%");
    cr_assert_str_eq(ui_fmt_bytes(b, sizeof b, 313248), "313 KB");
    cr_assert_str_eq(ui_fmt_ms(b, sizeof b, 0.41234), "0.412");
}

Test(format, wilson_interval)
{
    double lo, hi;
    ui_wilson(50, 100, &lo, &hi);
    cr_assert_float_eq(lo, 0.4038, 1e-4);
    cr_assert_float_eq(hi, 0.5962, 1e-4);
    ui_wilson(10, 10, &lo, &hi);
    cr_assert_float_eq(hi, 1.0, 1e-12);
    cr_assert_float_eq(lo, 0.7225, 1e-4);
    ui_wilson(0, 0, &lo, &hi);
    cr_assert(lo == 0 && hi == 1);
}

Test(format, text_fit)
{
    char b[64];
    cr_assert_str_eq(ui_text_fit(b, sizeof b, "conv", 6, false, false), "conv  ");
    cr_assert_str_eq(ui_text_fit(b, sizeof b, "448", 6, true, false), "   448");
    cr_assert_str_eq(ui_text_fit(b, sizeof b, "layer3.0.shortcut", 9, false, false), "laye~tcut");
    cr_assert_str_eq(ui_text_fit(b, sizeof b, "layer3.0.shortcut", 9, false, true),
                     "laye\u2026tcut");
    cr_assert_eq(ui_text_width("laye\u2026tcut"), 9);
}

/* ---- command line ---- */

Test(args, defaults_and_options)
{
    ui_args a;
    char *argv1[] = {"slimbench", NULL};
    cr_assert_eq(ui_args_parse(1, argv1, &a), 0);
    cr_assert_str_eq(a.model, UI_DEFAULT_MODEL);
    cr_assert_null(a.data);
    char *argv2[] = {"slimbench", "m.onnx", "--data", "d", "--threads", "3", "--demo", NULL};
    cr_assert_eq(ui_args_parse(7, argv2, &a), 0);
    cr_assert_str_eq(a.model, "m.onnx");
    cr_assert_str_eq(a.data, "d");
    cr_assert_eq(a.threads, 3);
    cr_assert(a.demo);
}

Test(args, usage_errors, .init = cr_redirect_stderr)
{
    ui_args a;
    char *bad_threads[] = {"slimbench", "--threads", "0", NULL};
    cr_assert_eq(ui_args_parse(3, bad_threads, &a), 1);
    char *extra[] = {"slimbench", "a.onnx", "b.onnx", NULL};
    cr_assert_eq(ui_args_parse(3, extra, &a), 1);
    char *unknown[] = {"slimbench", "--frobnicate", NULL};
    cr_assert_eq(ui_args_parse(2, unknown, &a), 1);
    char *missing[] = {"slimbench", "--data", NULL};
    cr_assert_eq(ui_args_parse(2, missing, &a), 1);
}

/* ---- editing ---- */

static const sb_layer_config *layer(int i) { return &s.cfg.layer[i]; }

Test(edit, p_cycles_none_magnitude_l1_and_bumps_the_generation)
{
    ui_table_move_to(&s, 5);
    keys("p");
    cr_assert_eq(layer(5)->prune, SB_PRUNE_MAGNITUDE);
    cr_assert_float_eq(layer(5)->ratio, UI_RATIO_DEFAULT, 1e-12, "a default ratio to start");
    cr_assert_eq(s.generation, 1);
    cr_assert(strstr(s.message, "layer5.conv: magnitude 50%"), "%s", s.message);
    keys("p");
    cr_assert_eq(layer(5)->prune, SB_PRUNE_L1);
    cr_assert_float_eq(layer(5)->ratio, 0.5, 1e-12, "the ratio is kept");
    keys("p");
    cr_assert_eq(layer(5)->prune, SB_PRUNE_NONE);
    cr_assert_float_eq(layer(5)->ratio, 0.0, 1e-12, "none has no ratio (as the CSV keeps it)");
    cr_assert_eq(s.generation, 3);
    cr_assert_eq(s.undo.n, 3, "one undo step per edit");
    cr_assert_not(ui_state_has_unsaved(&s));
    cr_assert(ui_state_is_base(&s));
}

Test(edit, l1_is_refused_on_an_unprunable_layer_with_the_reason)
{
    ui_table_move_to(&s, N - 1);
    cr_assert_not(ui_edit_set_prune(&s, SB_PRUNE_L1));
    cr_assert_eq(s.generation, 0, "nothing changed");
    cr_assert(s.message_error);
    cr_assert(strstr(s.message, "l1 not possible on layer29.conv"), "%s", s.message);
    cr_assert(strstr(s.message, "they reach the model's output"), "%s", s.message);
    keys("p"); /* magnitude */
    keys("p"); /* l1 is impossible: on to none, saying why */
    cr_assert_eq(layer(N - 1)->prune, SB_PRUNE_NONE);
    cr_assert(strstr(s.message, "reach the model's output"), "%s", s.message);
    s.rows[4].group = -1; /* a layer without a channel group */
    ui_table_move_to(&s, 4);
    cr_assert_not(ui_edit_set_prune(&s, SB_PRUNE_L1));
    cr_assert(strstr(s.message, "not part of a channel group"), "%s", s.message);
}

Test(edit, l1_on_marked_layers_skips_the_unprunable_ones)
{
    ui_table_move_to(&s, N - 2);
    keys("  "); /* marks layers 28 and 29 */
    cr_assert(ui_edit_set_prune(&s, SB_PRUNE_L1));
    cr_assert_eq(layer(N - 2)->prune, SB_PRUNE_L1);
    cr_assert_eq(layer(N - 1)->prune, SB_PRUNE_NONE);
    cr_assert(strstr(s.message, "layer29.conv"), "%s", s.message);
}

Test(edit, plus_minus_step_the_ratio)
{
    ui_table_move_to(&s, 2);
    keys("+");
    cr_assert_eq(layer(2)->prune, SB_PRUNE_MAGNITUDE, "+ on an unpruned layer starts pruning");
    cr_assert_float_eq(layer(2)->ratio, 0.05, 1e-12);
    keys("++>");
    cr_assert_float_eq(layer(2)->ratio, 0.25, 1e-12, "0.05 + 0.05 + 0.05 + 0.1, no drift");
    cr_assert_eq(layer(2)->ratio, 0.25, "exactly");
    for (int i = 0; i < 30; i++)
        keys("+");
    cr_assert_float_eq(layer(2)->ratio, UI_RATIO_MAX_STEP, 1e-12, "+ stops below 1");
    ui_edit_set_ratio(&s, 0.98);
    keys("+");
    cr_assert_float_eq(layer(2)->ratio, 0.98, 1e-12, "+ never lowers a typed ratio");
    ui_edit_set_ratio(&s, 0.1);
    keys("-");
    cr_assert_float_eq(layer(2)->ratio, 0.05, 1e-12);
    keys("<");
    cr_assert_eq(layer(2)->prune, SB_PRUNE_NONE, "down to 0: no pruning");
    uint64_t g = s.generation;
    keys("-");
    cr_assert_eq(s.generation, g, "no change, no edit");
    cr_assert(strstr(s.message, "no change"), "%s", s.message);
}

Test(edit, equals_prompts_for_a_ratio)
{
    ui_table_move_to(&s, 6);
    keys("=");
    cr_assert_eq(s.input, UI_INPUT_PROMPT);
    cr_assert(strstr(s.prompt.label, "layer6.conv"), "%s", s.prompt.label);
    keys("40%\n");
    cr_assert_eq(s.input, UI_INPUT_NORMAL);
    cr_assert_eq(layer(6)->prune, SB_PRUNE_MAGNITUDE);
    cr_assert_float_eq(layer(6)->ratio, 0.4, 1e-12);
    keys("=.5\n");
    cr_assert_float_eq(layer(6)->ratio, 0.5, 1e-12);
    keys("=150\n");
    cr_assert(s.message_error, "150%%: refused");
    keys("=-0.2\n");
    cr_assert(s.message_error, "negative: refused");
    cr_assert_float_eq(layer(6)->ratio, 0.5, 1e-12);
    keys("=half\n");
    cr_assert(strstr(s.message, "not a ratio"), "%s", s.message);
    keys("=0.7");
    ui_view_key(&s, UI_CTRL('u'));
    keys("0.2");
    ui_view_key(&s, KEY_BACKSPACE);
    keys("3");
    ui_view_key(&s, UI_KEY_ESC);
    cr_assert_float_eq(layer(6)->ratio, 0.5, 1e-12, "Esc changes nothing");
    keys("=0.23\n");
    cr_assert_float_eq(layer(6)->ratio, 0.23, 1e-12);
    keys("=0\n");
    cr_assert_eq(layer(6)->prune, SB_PRUNE_NONE);
}

Test(edit, bits_granularity_and_activations)
{
    ui_table_move_to(&s, 1);
    keys("g");
    cr_assert(s.message_error, "granularity of float weights: refused");
    cr_assert_eq(s.generation, 0);
    static const int cycle[] = {8, 6, 4, 2, 32};
    for (int i = 0; i < 5; i++) {
        keys("b");
        cr_assert_eq(layer(1)->wbits, cycle[i]);
    }
    keys("bg");
    cr_assert_eq(layer(1)->gran, SB_GRAN_TENSOR);
    keys("a");
    cr_assert(layer(1)->act8);
    char buf[32];
    cr_assert_str_eq(ui_quant_text(layer(1), buf, sizeof buf), "int8 t a8");
    keys("g");
    cr_assert_eq(layer(1)->gran, SB_GRAN_CHANNEL);
    keys("a");
    cr_assert_not(layer(1)->act8);
    cr_assert_eq(s.generation, 10, "5 b, then b g a g a");
}

Test(edit, marks_and_visual_ranges_choose_the_targets)
{
    int rows[N];
    ui_table_move_to(&s, 3);
    cr_assert_eq(ui_edit_targets(&s, rows), 1);
    cr_assert_eq(rows[0], 3, "nothing marked: the selected layer");
    keys("v");
    cr_assert(s.visual);
    keys("jjj");
    cr_assert(ui_visual_contains(&s, 3) && ui_visual_contains(&s, 6));
    cr_assert_not(ui_visual_contains(&s, 7));
    cr_assert_eq(ui_edit_targets(&s, rows), 4);
    keys("b"); /* edits apply to the range, which stays */
    for (int i = 3; i <= 6; i++)
        cr_assert_eq(layer(i)->wbits, 8);
    cr_assert_eq(layer(7)->wbits, 32);
    cr_assert(strstr(s.message, "4 layers"), "%s", s.message);
    keys("kkkkk"); /* the range follows the selection, upwards too */
    cr_assert(ui_visual_contains(&s, 1) && ui_visual_contains(&s, 3));
    cr_assert_not(ui_visual_contains(&s, 4));
    ui_view_key(&s, UI_KEY_ESC);
    cr_assert_not(s.visual);
    cr_assert_eq(s.n_marked, 0, "Esc drops the range, not marks");
    keys("vjjv"); /* v again marks the range */
    cr_assert_not(s.visual);
    cr_assert_eq(s.n_marked, 3);
    cr_assert(s.marked[1] && s.marked[2] && s.marked[3]);
    ui_table_move_to(&s, 20);
    cr_assert_eq(ui_edit_targets(&s, rows), 3, "marks win over the selection");
    keys("a");
    cr_assert(layer(1)->act8 && layer(2)->act8 && layer(3)->act8);
    cr_assert_not(layer(20)->act8);
    ui_table_sort(&s, UI_SORT_MACS); /* ranges are by view position */
    ui_table_move_to(&s, 0);
    keys("vj");
    cr_assert(ui_visual_contains(&s, N - 1) && ui_visual_contains(&s, N - 2));
    ui_view_key(&s, UI_KEY_ESC);
    ui_view_key(&s, UI_KEY_ESC);
    cr_assert_eq(s.n_marked, 0, "then Esc clears the marks");
}

Test(edit, global_prune_of_marked_layers)
{
    ui_table_move_to(&s, 10);
    keys("   "); /* 10, 11, 12 */
    keys("G");
    cr_assert_eq(s.input, UI_INPUT_PROMPT);
    cr_assert(strstr(s.prompt.label, "marked"), "%s", s.prompt.label);
    keys("0.7\n");
    for (int i = 10; i <= 12; i++) {
        cr_assert_eq(layer(i)->prune, SB_PRUNE_GLOBAL);
        cr_assert_float_eq(layer(i)->ratio, 0.0, 1e-12, "the shared ratio is the Config's");
    }
    cr_assert_eq(layer(9)->prune, SB_PRUNE_NONE);
    cr_assert_float_eq(s.cfg.global_ratio, 0.7, 1e-12);
    char buf[32];
    cr_assert_str_eq(ui_prune_text(&s, 11, buf, sizeof buf), "glob 70%");
    ui_table_move_to(&s, 11);
    ui_view_key(&s, UI_KEY_ESC); /* no pane: clears the marks */
    keys("+");
    cr_assert_float_eq(s.cfg.global_ratio, 0.75, 1e-12,
                       "+ on a global layer steps the shared ratio");
    keys("r");
    cr_assert_eq(layer(11)->prune, SB_PRUNE_NONE);
    cr_assert_float_eq(s.cfg.global_ratio, 0.75, 1e-12, "10 and 12 are still global");
    ui_edit_global(&s, 0);
    cr_assert_eq(layer(10)->prune, SB_PRUNE_NONE, "nothing marked: G applies to all layers");
    cr_assert_float_eq(s.cfg.global_ratio, 0.0, 1e-12);
    cr_assert(ui_state_is_base(&s));
    keys("G50\n");
    for (int i = 0; i < N; i++)
        cr_assert_eq(layer(i)->prune, SB_PRUNE_GLOBAL);
    cr_assert_float_eq(s.cfg.global_ratio, 0.5, 1e-12, "\"50\" means 50%%");
}

Test(edit, reset_one_and_all)
{
    ui_table_move_to(&s, 0);
    keys("pbj");
    keys("pab");
    cr_assert_not(ui_state_is_base(&s));
    ui_table_move_to(&s, 0);
    keys("r");
    cr_assert(sb_layer_config_is_default(layer(0)));
    cr_assert_not(sb_layer_config_is_default(layer(1)));
    keys("R");
    cr_assert(ui_state_is_base(&s));
    uint64_t g = s.generation;
    keys("R");
    cr_assert_eq(s.generation, g, "nothing to reset");
    keys("u");
    cr_assert_not(sb_layer_config_is_default(layer(1)), "R is undoable");
}

Test(edit, undo_and_redo_across_a_config_load)
{
    edit_prune(3, 0.5);
    sb_config loaded;
    sb_error err = {0};
    cr_assert_eq(sb_config_copy(&s.cfg, &loaded, &err), SB_OK);
    loaded.layer[3] = SB_LAYER_DEFAULT;
    loaded.layer[8] = (sb_layer_config){.prune = SB_PRUNE_L1, .ratio = 0.25, .wbits = 4};
    cr_assert(ui_edit_load(&s, &loaded, "cfg.csv"));
    cr_assert_eq(s.generation, 2);
    cr_assert_eq(layer(8)->prune, SB_PRUNE_L1);
    cr_assert_not(ui_state_has_unsaved(&s), "what was loaded is on disk");
    cr_assert(strstr(s.message, "loaded cfg.csv"), "%s", s.message);
    keys("u");
    cr_assert_eq(layer(8)->prune, SB_PRUNE_NONE, "undo goes back to before the load");
    cr_assert_float_eq(layer(3)->ratio, 0.5, 1e-12);
    cr_assert(ui_state_has_unsaved(&s));
    ui_view_key(&s, UI_CTRL('r'));
    cr_assert_eq(layer(8)->prune, SB_PRUNE_L1, "and redo reapplies it");
    cr_assert_eq(layer(3)->prune, SB_PRUNE_NONE);
    cr_assert_not(ui_edit_load(&s, &loaded, "cfg.csv"), "the same again: no new step");
    cr_assert_eq(s.undo.n, 2);
    sb_config_free(&loaded);
}

Test(edit, channels_an_l1_ratio_removes)
{
    static const double imp[6] = {3, 1, 2, 1, 5, 0.5};
    ui_group g = {.channels = 6, .prunable = true, .importance = imp};
    bool rm[6];
    cr_assert_eq(ui_group_removed(&g, 0.5, rm), 3);
    cr_assert(rm[5] && rm[1] && rm[3], "the least important, ties by lower index");
    cr_assert_not(rm[0] || rm[2] || rm[4]);
    cr_assert_eq(ui_group_removed(&g, 1.0 / 3, rm), 2);
    cr_assert(rm[5] && rm[1] && !rm[3], "of the tied 1s, channel 1 goes first");
    cr_assert_eq(ui_group_removed(&g, 0.99, rm), 5, "at least one stays");
    cr_assert_eq(ui_group_removed(&g, 0.25, rm), 2, "round(1.5) = 2, half to even");
    cr_assert_eq(ui_group_removed(&g, 0, rm), 0);
}

Test(edit, l1_on_a_co_producer_shows_on_the_other)
{
    char buf[32];
    int by;
    s.cfg.layer[3] = (sb_layer_config){.prune = SB_PRUNE_L1, .ratio = 0.5, .wbits = 32};
    cr_assert_float_eq(ui_group_ratio(&s, 2, &by), 0.5, 1e-12);
    cr_assert_eq(by, 3);
    cr_assert_str_eq(ui_prune_text(&s, 2, buf, sizeof buf), "(l1 50%)",
                     "layer 2's channels go too: the same group");
    s.cfg.layer[2] = (sb_layer_config){.prune = SB_PRUNE_L1, .ratio = 0.75, .wbits = 32};
    cr_assert_float_eq(ui_group_ratio(&s, 2, NULL), 0.75, 1e-12, "the largest ratio wins");
    cr_assert_str_eq(ui_ratio_text(1.0 / 3, buf, sizeof buf), "33.3%");
}

/* ---- files and the session ---- */

Test(files, w_o_W_e_prompt_with_paths_beside_the_model)
{
    s.model_path = "sample_models/lenet5.onnx";
    keys("w");
    cr_assert_eq(s.input, UI_INPUT_PROMPT);
    cr_assert_str_eq(s.prompt.text, "sample_models/lenet5.config.csv");
    ui_view_key(&s, UI_CTRL('u'));
    keys("/tmp/x.csv\n");
    cr_assert_eq(s.req.kind, UI_REQ_SAVE_CONFIG);
    cr_assert_str_eq(s.req.path, "/tmp/x.csv");
    cr_assert_not(s.req.quit_after);
    s.req.kind = UI_REQ_NONE;
    keys("o\n");
    cr_assert_eq(s.req.kind, UI_REQ_LOAD_CONFIG);
    cr_assert_str_eq(s.req.path, "sample_models/lenet5.config.csv");
    keys("W\n");
    cr_assert_eq(s.req.kind, UI_REQ_SAVE_REPORT);
    cr_assert_str_eq(s.req.path, "sample_models/lenet5.report.csv");
    keys("e\n");
    cr_assert_eq(s.req.kind, UI_REQ_EXPORT);
    cr_assert_str_eq(s.req.path, "sample_models/lenet5.compressed.onnx");
    s.req.kind = UI_REQ_NONE;
    keys("w");
    ui_view_key(&s, UI_CTRL('u'));
    keys("\n");
    cr_assert_eq(s.req.kind, UI_REQ_NONE);
    cr_assert(strstr(s.message, "no file name"), "%s", s.message);
}

Test(files, session_path_from_xdg_state_home_or_home)
{
    char p[512];
    setenv("XDG_STATE_HOME", "/tmp/sbtest-state", 1);
    cr_assert(ui_session_path("sample_models/lenet5.onnx", p, sizeof p));
    cr_assert(strncmp(p, "/tmp/sbtest-state/slimbench/", 28) == 0, "%s", p);
    cr_assert(strstr(p, "-lenet5.onnx.config.csv"), "%s", p);
    char q[512];
    cr_assert(ui_session_path("sample_models/../sample_models/lenet5.onnx", q, sizeof q));
    cr_assert_str_eq(p, q, "one model, one session, however it is named");
    cr_assert(ui_session_path("sample_models/resnet8.onnx", q, sizeof q));
    cr_assert_str_neq(p, q);
    setenv("XDG_STATE_HOME", "relative/dir", 1); /* ignored, as the spec says */
    setenv("HOME", "/tmp/sbtest-home", 1);
    cr_assert(ui_session_path("m.onnx", p, sizeof p));
    cr_assert(strncmp(p, "/tmp/sbtest-home/.local/state/slimbench/", 40) == 0, "%s", p);
    unsetenv("XDG_STATE_HOME");
    unsetenv("HOME");
    cr_assert_not(ui_session_path("m.onnx", p, sizeof p));
    sb_error err = {0};
    cr_assert_eq(ui_session_prepare("/tmp/sbtest-prep/a/b/file.csv", &err), SB_OK, "%s", err.msg);
    cr_assert_eq(ui_session_prepare("/proc/nope/x/file.csv", &err), SB_ERR_IO);
    cr_assert(strstr(err.msg, "cannot create"), "%s", err.msg);
}

/* ---- the sweep and the header ---- */

Test(jobs, a_sweep_fills_the_sensitivity_column)
{
    char buf[32];
    uint64_t gen;
    ui_table_move_to(&s, 4);
    keys("S");
    cr_assert_eq(s.req.kind, UI_REQ_SWEEP);
    cr_assert_eq(s.req.layer, 4);
    cr_assert_eq(s.req.method, SB_PRUNE_MAGNITUDE);
    cr_assert_eq(s.panel, UI_PANEL_SENS);
    cr_assert_str_eq(ui_table_cell(&s, &s.rows[4], UI_COL_SENS, 0, buf, sizeof buf), "...");
    ui_job_report r = {.kind = UI_JOB_SWEEP, .state = UI_JOB_DONE, .generation = s.sweep_id,
                       .layer = 4, .method = SB_PRUNE_MAGNITUDE, .n_points = UI_SWEEP_MAX};
    for (int i = 0; i < UI_SWEEP_MAX; i++)
        r.points[i] = (sb_sweep_point){.layer = 4, .ratio = i / 10.0, .images = 2000,
                                       .correct1 = 1800 - 40 * i};
    r.generation = s.sweep_id - 1;
    ui_state_on_report(&s, &r, &gen);
    cr_assert_not(s.rows[4].sens.known, "an older sweep's report");
    r.generation = s.sweep_id;
    ui_state_on_report(&s, &r, &gen);
    cr_assert(s.rows[4].sens.known);
    cr_assert_str_eq(ui_table_cell(&s, &s.rows[4], UI_COL_SENS, 0, buf, sizeof buf), "-10.0");
    cr_assert_eq(ui_table_columns(&s, 200).n, UI_COL_COUNT - 1, "the sens column appears");
    s.req.kind = UI_REQ_NONE;
    keys("S");
    keys("S");
    cr_assert_eq(s.req.kind, UI_REQ_CANCEL_SWEEP, "S again stops it");
}

static ui_model_stats *fake_stats(uint64_t gen)
{
    ui_model_stats *st = calloc(1, sizeof *st);
    st->generation = gen;
    st->n_layers = N;
    st->layer = calloc(N, sizeof *st->layer);
    for (int i = 0; i < N; i++)
        st->layer[i] = (ui_layer_stats){.out_shape = infos[i].out_shape,
                                        .params = infos[i].params,
                                        .macs = infos[i].macs,
                                        .out_channels = 4,
                                        .l1 = calloc(4, sizeof(double))};
    st->layer[0].params = 500;
    st->layer[0].macs = 50;
    st->layer[0].out_shape.dim[1] = 2;
    st->size = (sb_size_info){.params = 29065, .nonzero = 20000, .macs = 3385,
                              .effective_macs = 3000, .bytes = 100000};
    return st;
}

static char *header_line(int i, int width, char *buf, size_t n)
{
    ui_hline lines[UI_SUMMARY_LINES];
    int k = ui_summary_lines(&s, width, lines, UI_SUMMARY_LINES);
    cr_assert_eq(k, UI_SUMMARY_LINES);
    for (int j = 0; j < k; j++) {
        char t[512];
        cr_assert_leq(ui_text_width(ui_hline_text(&lines[j], t, sizeof t)), width, "%s", t);
    }
    return ui_hline_text(&lines[i], buf, n);
}

Test(header, baseline_then_current_beside_it)
{
    char t[512];
    uint64_t gen;
    s.base_size = (sb_size_info){.params = 29565, .nonzero = 29565, .macs = 3435,
                                 .effective_macs = 3435, .bytes = 118260};
    ui_job_report b = {.kind = UI_JOB_EVAL, .state = UI_JOB_DONE, .seconds = 2,
                       .progress = {10000, 10000, 9110, 9984, -1}};
    ui_state_on_report(&s, &b, &gen);
    header_line(0, 80, t, sizeof t);
    cr_assert(strstr(t, "top-1 91.10%  top-5 99.84%"), "%s", t);
    header_line(2, 80, t, sizeof t);
    cr_assert(strstr(t, "params 29.6k"), "%s", t);
    cr_assert_null(strstr(t, "->"), "no comparison before an edit: %s", t);
    edit_prune(0, 0.5);
    header_line(0, 80, t, sizeof t);
    cr_assert(strstr(t, "top-1 91.10% -> ..."), "%s", t);
    ui_job_report r = {.kind = UI_JOB_EVAL, .state = UI_JOB_RUNNING, .generation = 1,
                       .progress = {640, 10000, 500, 600, 560}};
    ui_state_on_report(&s, &r, &gen);
    header_line(0, 80, t, sizeof t);
    cr_assert(strstr(t, "top-1 91.10% -> ~78.1% -13.0  estimate, 95% CI"), "%s", t);
    header_line(1, 80, t, sizeof t);
    cr_assert(strstr(t, "agree ~87.5%"), "%s", t);
    ui_state_set_stats(&s, fake_stats(1));
    header_line(2, 80, t, sizeof t);
    cr_assert(strstr(t, "params 29.6k -> 29.1k 0.98x"), "%s", t);
    cr_assert(strstr(t, "MACs 3435 -> 3385 0.99x"), "%s", t);
    header_line(3, 80, t, sizeof t);
    cr_assert(strstr(t, "MACs skipping zeros (estimate)"), "%s", t);
    r = (ui_job_report){.kind = UI_JOB_EVAL, .state = UI_JOB_DONE, .generation = 1,
                        .progress = {10000, 10000, 9150, 9990, 9800}};
    cr_assert_eq(ui_state_on_report(&s, &r, &gen), UI_JOB_LATENCY);
    header_line(0, 80, t, sizeof t);
    cr_assert(strstr(t, "top-1 91.10% -> 91.50% +0.40  top-5 99.84% -> 99.90% +0.06"), "%s", t);
    header_line(1, 80, t, sizeof t);
    cr_assert(strstr(t, "agree 98.00%"), "%s", t);
    ui_job_report bl = {.kind = UI_JOB_LATENCY, .state = UI_JOB_DONE,
                        .latency = {.median_ms = 0.5, .threads = 2}};
    ui_job_report nl = {.kind = UI_JOB_LATENCY, .state = UI_JOB_DONE, .generation = 1,
                        .latency = {.median_ms = 0.25, .threads = 2},
                        .kernels = "int8-vnni x3"};
    ui_state_on_report(&s, &bl, &gen);
    ui_state_on_report(&s, &nl, &gen);
    header_line(1, 80, t, sizeof t);
    cr_assert(strstr(t, "latency 0.500 -> 0.250 ms 2.00x faster"), "%s", t);
    header_line(1, 140, t, sizeof t);
    cr_assert(strstr(t, "batch 1, 2 threads, int8-vnni x3"), "the kernels measured: %s", t);
    /* a failed edit keeps the previous results on screen, with the reason below */
    edit_prune(0, 0.6);
    r = (ui_job_report){.kind = UI_JOB_EVAL, .state = UI_JOB_FAILED, .generation = 2,
                        .error = "a8 needs the training split"};
    ui_state_on_report(&s, &r, &gen);
    cr_assert(s.message_error);
    cr_assert_str_eq(s.message, "a8 needs the training split");
    header_line(0, 80, t, sizeof t);
    cr_assert(strstr(t, "91.50%") && strstr(t, "previous settings: not applied"), "%s", t);
    header_line(1, 80, t, sizeof t);
    cr_assert(strstr(t, "0.250 ms"), "the previous latency too: %s", t);
    keys("u");
    keys("u");
    cr_assert(ui_state_is_base(&s));
    header_line(0, 80, t, sizeof t);
    cr_assert(strstr(t, "top-1 91.10%  top-5"), "undone to the base: its numbers: %s", t);
    header_line(2, 80, t, sizeof t);
    cr_assert_null(strstr(t, "->"), "%s", t);
}

Test(header, stats_of_older_edits_are_dropped_and_rows_show_current_numbers)
{
    char buf[64];
    edit_prune(0, 0.5);
    ui_state_set_stats(&s, fake_stats(2));
    ui_state_set_stats(&s, fake_stats(1));
    cr_assert_eq(s.stats->generation, 2u);
    cr_assert_str_eq(ui_table_cell(&s, &s.rows[0], UI_COL_PARAMS, 0, buf, sizeof buf), "500");
    cr_assert_str_eq(ui_table_cell(&s, &s.rows[0], UI_COL_SHAPE, 0, buf, sizeof buf), "2x8x8");
    cr_assert_str_eq(ui_table_cell_ex(&s, &s.rows[0], UI_COL_SHAPE, 0, true, buf, sizeof buf),
                     "2x8x8/4x8x8");
    cr_assert_str_eq(ui_table_cell_ex(&s, &s.rows[0], UI_COL_MACS, 0, true, buf, sizeof buf),
                     "50/100");
    cr_assert_str_eq(ui_table_cell_ex(&s, &s.rows[1], UI_COL_MACS, 0, true, buf, sizeof buf),
                     "101", "unchanged: one number");
    cr_assert(ui_table_cell_changed(&s, &s.rows[0], UI_COL_MACS));
    cr_assert_not(ui_table_cell_changed(&s, &s.rows[1], UI_COL_MACS));
    cr_assert(ui_table_columns(&s, 200).wide, "room for now/base cells");
    cr_assert_not(ui_table_columns(&s, 80).wide);
    keys("u");
    cr_assert_null(ui_row_now(&s, 0), "the base again: its own numbers");
    cr_assert_str_eq(ui_table_cell(&s, &s.rows[0], UI_COL_PARAMS, 0, buf, sizeof buf), "1000");
}

/* ---- per-layer kernels and measured times ---- */

TestSuite(times, .init = setup, .fini = teardown);

/* Times for generation gen: layer i takes (i + 1) * ms_unit; with a base model timed beside. */
static ui_layer_times *fake_times(uint64_t gen, double unit, double base_unit)
{
    ui_layer_times *t = ui_layer_times_new(N, gen, base_unit > 0);
    cr_assert_not_null(t);
    for (int i = 0; i < N; i++) {
        t->layer[i] = (sb_layer_time){(i + 1) * unit, (i + 1) * unit * 0.9};
        if (t->base)
            t->base[i] = (sb_layer_time){(i + 1) * base_unit, (i + 1) * base_unit * 0.9};
    }
    return t;
}

static char *cell(int row, ui_col_id id, bool wide, char *buf, size_t n)
{
    return ui_table_cell_ex(&s, row < 0 ? NULL : &s.rows[row], id, 0, wide, buf, n);
}

static void set_kernels(void)
{
    for (int i = 0; i < N; i++)
        snprintf(s.rows[i].kernel, sizeof s.rows[i].kernel, "f32");
}

Test(times, the_base_model_shows_its_kernels_and_times_once_measured)
{
    char b[64];
    set_kernels();
    cr_assert_str_eq(cell(2, UI_COL_KERNEL, false, b, sizeof b), "f32");
    cr_assert_str_eq(cell(2, UI_COL_TIME, false, b, sizeof b), "...", "not measured yet");
    cr_assert_str_eq(cell(-1, UI_COL_TIME, false, b, sizeof b), "", "no total yet");
    ui_state_set_times(&s, fake_times(0, 0.01, 0));
    cr_assert_str_eq(cell(2, UI_COL_TIME, false, b, sizeof b), "0.0300");
    cr_assert_str_eq(cell(2, UI_COL_TIME, true, b, sizeof b), "0.0300", "nothing to compare");
    cr_assert_str_eq(cell(2, UI_COL_SPEEDUP, true, b, sizeof b), "");
    /* 0.01 x (1 + 2 + ... + 30) */
    cr_assert_str_eq(cell(-1, UI_COL_TIME, false, b, sizeof b), "4.65", "the layers' sum");
    cr_assert_not(ui_table_kernel_changed(&s, &s.rows[2]));
}

Test(times, an_edit_shows_pending_then_current_then_stale_never_old_as_current)
{
    char b[64];
    set_kernels();
    ui_state_set_times(&s, fake_times(0, 0.01, 0));
    edit_prune(2, 0.9); /* generation 1 */
    cr_assert_str_eq(cell(2, UI_COL_KERNEL, false, b, sizeof b), "...", "not compressed yet");
    cr_assert_str_eq(cell(2, UI_COL_TIME, false, b, sizeof b), "...",
                     "the base's time is not this model's");
    ui_model_stats *st = fake_stats(1);
    snprintf(st->layer[2].kernel, sizeof st->layer[2].kernel, "sparse-csr");
    for (int i = 0; i < N; i++)
        if (i != 2)
            snprintf(st->layer[i].kernel, sizeof st->layer[i].kernel, "f32");
    ui_state_set_stats(&s, st);
    cr_assert_str_eq(cell(2, UI_COL_KERNEL, false, b, sizeof b), "sparse-csr");
    cr_assert(ui_table_kernel_changed(&s, &s.rows[2]));
    cr_assert(ui_table_cell_changed(&s, &s.rows[2], UI_COL_KERNEL));
    cr_assert_not(ui_table_kernel_changed(&s, &s.rows[3]));
    cr_assert_str_eq(cell(2, UI_COL_TIME, false, b, sizeof b), "...", "measured after latency");

    ui_state_set_times(&s, fake_times(1, 0.004, 0.016)); /* the base timed beside it */
    cr_assert_str_eq(cell(2, UI_COL_TIME, false, b, sizeof b), "0.0120");
    cr_assert_str_eq(cell(2, UI_COL_TIME, true, b, sizeof b), "0.0120/0.0480",
                     "now/base: the base as timed in the same job, not alone");
    cr_assert_str_eq(cell(2, UI_COL_SPEEDUP, true, b, sizeof b), "4.00x");
    cr_assert_str_eq(cell(-1, UI_COL_SPEEDUP, true, b, sizeof b), "4.00x");
    cr_assert_str_eq(cell(-1, UI_COL_TIME, false, b, sizeof b), "1.86", "0.004 x 465");

    edit_prune(2, 0.95); /* generation 2: the figures above are the previous settings' */
    cr_assert_str_eq(cell(2, UI_COL_KERNEL, false, b, sizeof b), "(sparse-csr)");
    cr_assert_str_eq(cell(2, UI_COL_TIME, false, b, sizeof b), "(0.0120)");
    cr_assert_str_eq(cell(-1, UI_COL_TIME, false, b, sizeof b), "(1.86)");
    cr_assert_str_eq(cell(2, UI_COL_SPEEDUP, true, b, sizeof b), "", "no speed-up from old times");
    double ms;
    cr_assert_eq(ui_row_time(&s, 2, &ms), UI_MEASURE_STALE);
    ui_state_set_times(&s, fake_times(1, 0.001, 0.02)); /* a late report of generation 1 */
    cr_assert_str_eq(cell(2, UI_COL_TIME, false, b, sizeof b), "(0.0030)", "still stale");
    ui_state_set_times(&s, fake_times(2, 0.002, 0.02));
    cr_assert_str_eq(cell(2, UI_COL_TIME, false, b, sizeof b), "0.0060");
    ui_state_set_times(&s, fake_times(1, 0.001, 0.02));
    cr_assert_str_eq(cell(2, UI_COL_TIME, false, b, sizeof b), "0.0060", "older: dropped");

    keys("u"); /* generation 3, the settings of generation 1: measured again */
    cr_assert_str_eq(cell(2, UI_COL_TIME, false, b, sizeof b), "(0.0060)");
    keys("u"); /* the base model: its own measurement is current */
    cr_assert_str_eq(cell(2, UI_COL_TIME, false, b, sizeof b), "0.0300");
    cr_assert_str_eq(cell(2, UI_COL_KERNEL, false, b, sizeof b), "f32");
}

Test(times, the_detail_line_names_the_kernel_and_the_time_against_the_base_and_the_sum)
{
    char b[512];
    set_kernels();
    cr_assert(strstr(ui_row_speed_text(&s, 2, b, sizeof b), "f32  time: measured after"), "%s",
              b);
    ui_layer_times *t = fake_times(0, 0.01, 0);
    t->run.median_ms = 5;
    ui_state_set_times(&s, t);
    cr_assert_str_eq(ui_row_speed_text(&s, 2, b, sizeof b),
                     "f32  0.0300 ms median (min 0.0270); 0.6% of the layers' 4.65 ms (a run: "
                     "5.00 ms)");
    edit_prune(2, 0.9);
    ui_model_stats *st = fake_stats(1);
    snprintf(st->layer[2].kernel, sizeof st->layer[2].kernel, "sparse-csr");
    ui_state_set_stats(&s, st);
    cr_assert(strstr(ui_row_speed_text(&s, 2, b, sizeof b), "sparse-csr  time: measured"), "%s",
              b);
    ui_state_set_times(&s, fake_times(1, 0.004, 0.016));
    cr_assert(strstr(ui_row_speed_text(&s, 2, b, sizeof b),
                     "sparse-csr  0.0120 ms median (min 0.0108); base f32 0.0480 ms, 4.00x faster"),
              "%s", b);
    edit_prune(2, 0.95);
    cr_assert_str_eq(ui_row_speed_text(&s, 2, b, sizeof b),
                     "(sparse-csr)  time: measuring (previous settings: 0.0120 ms)");
}

Test(times, a_failed_measurement_shows_a_dash)
{
    char b[64];
    uint64_t gen;
    edit_prune(2, 0.9);
    ui_job_report r = {.kind = UI_JOB_LAYERS, .state = UI_JOB_FAILED, .generation = 1,
                       .error = "out of memory"};
    ui_state_on_report(&s, &r, &gen);
    cr_assert_str_eq(cell(2, UI_COL_TIME, false, b, sizeof b), "-");
    cr_assert(strstr(s.message, "out of memory"), "%s", s.message);
}

Test(times, layer_times_follow_latency_once_for_the_base_and_each_edit)
{
    uint64_t gen;
    ui_job_report r = report(UI_JOB_LATENCY, UI_JOB_DONE, 0);
    cr_assert_eq(ui_state_on_report(&s, &r, &gen), UI_JOB_LAYERS);
    cr_assert_eq(gen, 0u);
    ui_state_job_queued(&s, UI_JOB_LAYERS, 0);
    cr_assert_eq(ui_state_on_report(&s, &r, &gen), UI_JOB_NONE, "queued once");
    cr_assert_eq(s.base[UI_JOB_LAYERS].state, UI_JOB_QUEUED);
    edit_prune(0, 0.5);
    r.generation = 1;
    cr_assert_eq(ui_state_on_report(&s, &r, &gen), UI_JOB_LAYERS);
    cr_assert_eq(gen, 1u);
    ui_state_job_queued(&s, UI_JOB_LAYERS, 1);
    cr_assert_eq(s.job[UI_JOB_LAYERS].state, UI_JOB_QUEUED);
    edit_prune(0, 0.6);
    cr_assert_eq(s.job[UI_JOB_LAYERS].state, UI_JOB_IDLE, "an edit starts over");
    cr_assert_eq(s.base[UI_JOB_LAYERS].state, UI_JOB_QUEUED, "the base's is not cancelled");
    r = report(UI_JOB_LAYERS, UI_JOB_DONE, 1);
    cr_assert_eq(ui_state_on_report(&s, &r, &gen), UI_JOB_NONE);
    cr_assert_eq(s.job[UI_JOB_LAYERS].state, UI_JOB_IDLE, "an older edit's report is dropped");
    r = report(UI_JOB_LATENCY, UI_JOB_FAILED, 2);
    cr_assert_eq(ui_state_on_report(&s, &r, &gen), UI_JOB_NONE, "no times without latency");
}

Test(times, sort_by_time_slowest_first_and_again_when_times_land)
{
    ui_table_move_to(&s, 5);
    ui_table_sort(&s, UI_SORT_TIME);
    cr_assert_str_eq(selected_name(), "layer5.conv", "nothing measured: model order");
    cr_assert_eq(s.order[0], 0);
    ui_state_set_times(&s, fake_times(0, 0.01, 0)); /* layer i: (i + 1) x 0.01 */
    cr_assert_eq(s.order[0], N - 1, "the slowest first");
    cr_assert_eq(s.order[N - 1], 0);
    cr_assert_str_eq(selected_name(), "layer5.conv", "the selection follows its layer");
    edit_prune(0, 0.5);
    ui_layer_times *t = fake_times(1, 0.01, 0.01);
    t->layer[0].median_ms = 1; /* now the slowest */
    ui_state_set_times(&s, t);
    cr_assert_eq(s.order[0], 0, "re-sorted by the current model's times");
    ui_table_sort(&s, UI_SORT_MACS);
    ui_state_set_times(&s, fake_times(1, 0.01, 0.01));
    cr_assert_eq(s.order[0], N - 1, "other sorts do not move when times land");
    cr_assert_str_eq(ui_sort_name(UI_SORT_TIME), "time");
}

Test(times, columns_by_priority_from_80_to_200)
{
    set_kernels();
    edit_prune(2, 0.9);
    ui_state_set_stats(&s, fake_stats(1));
    ui_state_set_times(&s, fake_times(0, 0.01, 0));
    ui_state_set_times(&s, fake_times(1, 0.005, 0.01));
    ui_colset cs = ui_table_columns(&s, 200);
    cr_assert(cs.wide);
    cr_assert(has_col(&cs, UI_COL_SPEEDUP), "the speed-up with now/base cells");
    cr_assert(has_col(&cs, UI_COL_KERNEL) && has_col(&cs, UI_COL_TIME));
    cs = ui_table_columns(&s, 80);
    cr_assert_not(cs.wide);
    cr_assert_leq(colset_width(&cs), 80);
    cr_assert_not(has_col(&cs, UI_COL_SPEEDUP));
    cr_assert(has_col(&cs, UI_COL_KERNEL) && has_col(&cs, UI_COL_TIME), "kept at 80 columns");
    cs = ui_table_columns(&s, 48);
    cr_assert_leq(colset_width(&cs), 48);
    cr_assert(has_col(&cs, UI_COL_TIME) && has_col(&cs, UI_COL_PRUNE), "kept longest");
    cr_assert_not(has_col(&cs, UI_COL_KERNEL), "the kernel goes before the time");
    cr_assert_not(has_col(&cs, UI_COL_ZEROS), "sparsity goes before the kernel");
}

Test(times, the_header_says_how_many_images_came_from_the_cache)
{
    char t[512];
    uint64_t gen;
    ui_job_report r = report(UI_JOB_EVAL, UI_JOB_DONE, 0);
    r.progress = (sb_eval_progress){10000, 10000, 9100, 9900, -1};
    ui_state_on_report(&s, &r, &gen);
    edit_prune(5, 0.5);
    r.generation = 1;
    r.cached = 5349;
    ui_state_on_report(&s, &r, &gen);
    cr_assert(strstr(header_line(0, 200, t, sizeof t), "(5349 from cache)"), "%s", t);
    cr_assert_null(strstr(header_line(0, 60, t, sizeof t), "cache"), "dropped first: %s", t);
    r.cached = 0;
    r.generation = 2;
    edit_prune(5, 0.6);
    ui_state_on_report(&s, &r, &gen);
    cr_assert_null(strstr(header_line(0, 200, t, sizeof t), "cache"), "%s", t);
}

Test(format, plots_and_histograms)
{
    char b[256];
    static const double v[3] = {1.0, 0.5, 0.0};
    cr_assert_str_eq(ui_plot_row(b, sizeof b, v, 3, 0, 1, 2, 0, 2, false), "#     ");
    cr_assert_str_eq(ui_plot_row(b, sizeof b, v, 3, 0, 1, 2, 1, 2, false), "# #   ");
    cr_assert_str_eq(ui_plot_row(b, sizeof b, v, 3, 0, 1, 1, 0, 1, true),
                     "\u2588\u2584 ");
    int c[4];
    static const double h[6] = {0, 0.1, 0.5, 0.99, 1.0, 2.0};
    ui_histogram(h, 6, 0, 1, 4, c);
    cr_assert(c[0] == 2 && c[1] == 0 && c[2] == 1 && c[3] == 3, "%d %d %d %d", c[0], c[1], c[2],
              c[3]);
    static const double lv[4] = {0, 1, 4, 8};
    cr_assert_str_eq(ui_spark_levels(b, sizeof b, lv, 4, 8, false), " .=@");
}

/* ---- fine-tuning: the history holds weights, the dialog ---- */

TestSuite(finetune, .init = setup, .fini = teardown);

/* A stand-in for trained weights: no model, only identity and a reference count. */
static ui_weights *fake_weights(const char *note)
{
    ui_weights *w = ui_weights_new(NULL, note);
    cr_assert_not_null(w);
    return w;
}

Test(finetune, undo_returns_to_the_weights_before_and_redo_reapplies_the_same_ones)
{
    edit_prune(1, 0.5);
    ui_weights *w = fake_weights("A");
    ui_weights_ref(w); /* the test's own handle */
    uint64_t gen = s.generation;
    cr_assert(ui_state_finetuned(&s, w));
    cr_assert_eq(s.weights, w);
    cr_assert_gt(s.generation, gen, "a fine-tune is an edit: everything is re-evaluated");
    cr_assert_float_eq(s.cfg.layer[1].ratio, 0.5, 1e-12, "the Config is unchanged");
    cr_assert_not(ui_state_is_base(&s));
    cr_assert_eq(w->refs, 2);

    ui_view_key(&s, 'u');
    cr_assert_null(s.weights, "undo: the weights before fine-tuning");
    cr_assert_float_eq(s.cfg.layer[1].ratio, 0.5, 1e-12, "... with the same Config");
    cr_assert(strstr(s.message, "before fine-tuning"), "%s", s.message);
    cr_assert_eq(w->refs, 2, "the redo stack keeps them");
    ui_view_key(&s, UI_CTRL('r'));
    cr_assert_eq(s.weights, w, "redo: the same trained weights, not retrained");
    cr_assert(strstr(s.message, "not retrained"), "%s", s.message);

    edit_prune(2, 0.3); /* an edit starts again from the original weights */
    cr_assert_null(s.weights);
    cr_assert(ui_state_left_finetuned(&s));
    cr_assert_float_eq(s.cfg.layer[1].ratio, 0.5, 1e-12);
    cr_assert(ui_state_undo(&s));
    cr_assert_eq(s.weights, w, "undoing that edit comes back to the fine-tuned model");
    cr_assert(ui_state_undo(&s));
    cr_assert_null(s.weights);
    edit_prune(3, 0.2); /* drops the redo stack, and the references in it */
    cr_assert_eq(w->refs, 1, "only the test's handle is left");
    ui_weights_unref(w);
}

Test(finetune, every_reference_is_dropped_with_the_state)
{
    edit_prune(1, 0.5);
    ui_weights *a = fake_weights("A"), *b = fake_weights("B");
    ui_weights_ref(a);
    ui_weights_ref(b);
    cr_assert(ui_state_finetuned(&s, a));
    cr_assert(ui_state_finetuned(&s, b)); /* fine-tuned again */
    cr_assert(ui_state_undo(&s));
    cr_assert_eq(s.weights, a);
    cr_assert_eq(a->refs, 2);
    cr_assert_eq(b->refs, 2);
    ui_state_free(&s);
    cr_assert_eq(a->refs, 1);
    cr_assert_eq(b->refs, 1);
    ui_weights_unref(a);
    ui_weights_unref(b);
    ui_state_init(&s); /* for the teardown */
}

Test(finetune, quit_warns_once_about_weights_not_exported)
{
    edit_prune(1, 0.5);
    cr_assert(ui_state_finetuned(&s, fake_weights("A")));
    cr_assert_not(ui_view_key(&s, 'q') & UI_QUIT);
    cr_assert(strstr(s.message, "not exported"), "%s", s.message);
    cr_assert_eq(s.input, UI_INPUT_NORMAL);
    ui_view_key(&s, 'q');
    cr_assert_eq(s.input, UI_INPUT_CONFIRM_QUIT, "q again: on to the unsaved-Config question");
    ui_view_key(&s, UI_KEY_ESC);
    ui_job_report r = {.kind = UI_JOB_FILE, .state = UI_JOB_DONE, .op = UI_FILE_EXPORT_ONNX,
                       .generation = s.generation};
    uint64_t gen;
    ui_state_on_report(&s, &r, &gen);
    cr_assert(s.weights->exported);
    ui_view_key(&s, 'j');
    ui_view_key(&s, 'q');
    cr_assert_eq(s.input, UI_INPUT_CONFIRM_QUIT, "exported: no warning");
}

Test(finetune, F_in_the_workshop_view_opens_the_dialog_over_the_table)
{
    edit_prune(1, 0.5);
    ui_view_key(&s, 'D');
    ui_view_key(&s, 'F');
    cr_assert_eq(ui_view_current(&s), &ui_view_table);
    cr_assert_eq(s.input, UI_INPUT_FINETUNE);
}

Test(finetune, nothing_to_fine_tune_on_the_base_model)
{
    ui_view_key(&s, 'F');
    cr_assert_eq(s.input, UI_INPUT_NORMAL);
    cr_assert(strstr(s.message, "nothing to fine-tune"), "%s", s.message);
}

static void dialog_keys(const int *k, int n)
{
    for (int i = 0; i < n; i++)
        ui_view_key(&s, k[i]);
}

Test(finetune, dialog_fields_edit_check_and_start)
{
    edit_prune(1, 0.5);
    ui_view_key(&s, 'F');
    cr_assert_eq(s.input, UI_INPUT_FINETUNE);
    cr_assert_str_eq(ui_ft_value(&s.ft, UI_FT_EPOCHS), "1", "defaults: one epoch");
    cr_assert_str_eq(ui_ft_value(&s.ft, UI_FT_LR), "0.01");
    cr_assert_str_eq(ui_ft_value(&s.ft, UI_FT_DISTILL), "on");
    cr_assert_str_eq(ui_ft_value(&s.ft, UI_FT_T), "4");
    cr_assert_str_eq(ui_ft_value(&s.ft, UI_FT_ALPHA), "0.7");
    /* epochs "1" -> "0.2"; steps stay empty; alpha -> "1.5" (wrong) */
    const int k1[] = {KEY_BACKSPACE, '0', '.', '2', 'x', KEY_DOWN, KEY_DOWN, KEY_DOWN, KEY_DOWN,
                      KEY_DOWN, UI_CTRL('u'), '1', '.', '5', '\n'};
    dialog_keys(k1, sizeof k1 / sizeof k1[0]);
    cr_assert_str_eq(ui_ft_value(&s.ft, UI_FT_EPOCHS), "0.2", "letters are not typed");
    cr_assert_eq(s.input, UI_INPUT_FINETUNE, "a wrong value keeps the dialog open");
    cr_assert_eq(s.ft.bad, UI_FT_ALPHA);
    cr_assert_eq(s.ft.field, UI_FT_ALPHA, "... on the wrong field");
    cr_assert(strstr(s.ft.error, "alpha"), "%s", s.ft.error);
    cr_assert_eq(s.req.kind, UI_REQ_NONE);
    /* alpha 0.5; distillation off; AGP 3 steps; 640 images */
    const int k2[] = {KEY_BACKSPACE, KEY_BACKSPACE, KEY_BACKSPACE, '.', '5', KEY_UP, KEY_UP,
                      ' ', KEY_DOWN, KEY_DOWN, KEY_DOWN, '3', '\t', '6', '4', '0', '\r'};
    dialog_keys(k2, sizeof k2 / sizeof k2[0]);
    cr_assert_eq(s.input, UI_INPUT_NORMAL);
    cr_assert_eq(s.req.kind, UI_REQ_FINETUNE);
    const sb_train_options *o = &s.req.train;
    cr_assert_float_eq(o->epochs, 0.2, 1e-12);
    cr_assert_eq(o->steps, 0);
    cr_assert_float_eq(o->lr, 0.01f, 1e-9);
    cr_assert_not(o->distill);
    cr_assert(s.req.agp);
    cr_assert_eq(o->agp_steps, 3);
    cr_assert_eq(o->limit, 640);
    cr_assert(ui_state_training(&s));
    cr_assert_eq(s.job[UI_JOB_TRAIN].state, UI_JOB_QUEUED);
}

Test(finetune, esc_closes_the_dialog_and_keeps_its_values)
{
    edit_prune(1, 0.5);
    ui_view_key(&s, 'F');
    const int k[] = {KEY_DOWN, '2', '5', UI_KEY_ESC};
    dialog_keys(k, sizeof k / sizeof k[0]);
    cr_assert_eq(s.input, UI_INPUT_NORMAL);
    cr_assert_eq(s.req.kind, UI_REQ_NONE);
    ui_view_key(&s, 'F');
    cr_assert_str_eq(ui_ft_value(&s.ft, UI_FT_STEPS), "25", "reopened with the last values");
}

Test(finetune, parse_checks_each_field)
{
    ui_ft_dialog d = {.distill = true};
    sb_train_options o;
    bool agp;
    char why[96];
    snprintf(d.text[UI_FT_EPOCHS], UI_FT_TEXT, "0.5");
    snprintf(d.text[UI_FT_LR], UI_FT_TEXT, "0.05");
    snprintf(d.text[UI_FT_T], UI_FT_TEXT, "2");
    snprintf(d.text[UI_FT_ALPHA], UI_FT_TEXT, "0.9");
    cr_assert_eq(ui_ft_parse(&d, &o, &agp, why, sizeof why), -1, "%s", why);
    cr_assert_float_eq(o.epochs, 0.5, 1e-12);
    cr_assert(o.distill);
    cr_assert_float_eq(o.temperature, 2.0f, 1e-6);
    cr_assert_float_eq(o.alpha, 0.9f, 1e-6);
    cr_assert_not(agp);
    cr_assert_eq(o.limit, 0, "empty: every training image");
    snprintf(d.text[UI_FT_STEPS], UI_FT_TEXT, "2.5");
    cr_assert_eq(ui_ft_parse(&d, &o, &agp, why, sizeof why), UI_FT_STEPS);
    snprintf(d.text[UI_FT_STEPS], UI_FT_TEXT, "40");
    d.text[UI_FT_EPOCHS][0] = 0;
    cr_assert_eq(ui_ft_parse(&d, &o, &agp, why, sizeof why), -1, "steps alone: %s", why);
    cr_assert_eq(o.steps, 40);
    snprintf(d.text[UI_FT_LR], UI_FT_TEXT, "0");
    cr_assert_eq(ui_ft_parse(&d, &o, &agp, why, sizeof why), UI_FT_LR);
    snprintf(d.text[UI_FT_LR], UI_FT_TEXT, "1e-3");
    snprintf(d.text[UI_FT_T], UI_FT_TEXT, "-1");
    cr_assert_eq(ui_ft_parse(&d, &o, &agp, why, sizeof why), UI_FT_T);
    d.distill = false;
    cr_assert_eq(ui_ft_parse(&d, &o, &agp, why, sizeof why), -1, "T is not used: %s", why);
    cr_assert_float_eq(o.lr, 1e-3f, 1e-9);
    snprintf(d.text[UI_FT_LIMIT], UI_FT_TEXT, "-5");
    cr_assert_eq(ui_ft_parse(&d, &o, &agp, why, sizeof why), UI_FT_LIMIT);
    cr_assert(strstr(why, "training images"), "%s", why);
}

Test(finetune, edits_wait_while_it_trains_and_F_cancels)
{
    edit_prune(1, 0.5);
    ui_view_key(&s, 'F');
    ui_view_key(&s, '\n');
    cr_assert(ui_state_training(&s));
    s.req.kind = UI_REQ_NONE; /* the main loop took it */
    uint64_t gen = s.generation;
    keys("p+bu");
    cr_assert_eq(s.generation, gen, "no edit while training");
    cr_assert(strstr(s.message, "edits wait"), "%s", s.message);
    ui_view_key(&s, 'j');
    cr_assert_eq(s.sel, 1, "moving around still works");
    ui_job_report r = {.kind = UI_JOB_TRAIN, .state = UI_JOB_RUNNING, .generation = gen,
                       .train = {.step = 30, .steps = 60, .loss = 0.5, .accuracy = 75,
                                 .seconds = 3}};
    uint64_t next;
    ui_state_on_report(&s, &r, &next);
    char bar[256];
    s.utf8 = false;
    ui_ft_progress_text(&s, 78, bar, sizeof bar);
    cr_assert(strstr(bar, "30/60  loss 0.500  train 75.0%  3s  F cancels"), "%s", bar);
    int full = 0, empty = 0;
    for (const char *c = bar + strlen("fine-tuning "); *c == '#' || *c == '-'; c++)
        *c == '#' ? full++ : empty++;
    cr_assert_eq(full, empty, "half way: half the bar (%s)", bar);
    s.ft.running_agp = true;
    s.job[UI_JOB_TRAIN].train.sparsity = 0.8;
    ui_ft_progress_text(&s, 72, bar, sizeof bar);
    cr_assert(strstr(bar, " 30/60 loss 0.500 train 75.0% sparsity 80% 3s F cancels"),
              "narrow: single blanks (%s)", bar);
    cr_assert_eq(ui_text_width(bar), 72, "%s", bar);
    ui_view_key(&s, 'F');
    cr_assert_eq(s.req.kind, UI_REQ_CANCEL_FINETUNE);
    cr_assert_not(ui_state_training(&s));
    cr_assert(strstr(s.message, "the model is as it was"), "%s", s.message);
    r.train.step = 31;
    ui_state_on_report(&s, &r, &next);
    cr_assert_not(ui_state_training(&s), "a late progress report does not revive it");
    cr_assert_null(s.weights);
    cr_assert_eq(s.generation, gen);
}

/* ---- the worker, on a real model ---- */

#include "ui_worker.h"

#include <poll.h>
#include <unistd.h>

#define WORKER_MODEL "sample_models/lenet5.onnx"
#define WORKER_DATA "/usr/share/datasets/fashion-mnist"

typedef struct worker_fixture {
    sb_model *m;
    sb_dataset *d;
    ui_worker *w;
    ui_job_report last[2][UI_JOB_COUNT]; /* latest report: [base?0:1][kind] */
    ui_model_stats *stats;
    ui_layer_times *times[2]; /* the latest per-layer times: [base?0:1] */
} worker_fixture;

static worker_fixture wf;

static void worker_setup(void)
{
    sb_error err = {0};
    memset(&wf, 0, sizeof wf);
    if (access(WORKER_MODEL, R_OK) || access(WORKER_DATA, R_OK))
        return;
    cr_assert_eq(sb_model_load(WORKER_MODEL, &wf.m, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(sb_dataset_open(WORKER_DATA, "test", &wf.d, &err), SB_OK, "%s", err.msg);
    ui_worker_opts o = {.model = wf.m,
                        .data = wf.d,
                        .data_dir = NULL, /* no training split: a8 must fail */
                        .threads = 1,
                        .latency_seconds = 0.05,
                        .sweep_limit = 128,
                        .eval_limit = 256};
    cr_assert_eq(sb_preprocess_from_model(wf.m, &o.pp, &err), SB_OK);
    cr_assert_not_null(wf.w = ui_worker_new(&o));
}

static void worker_teardown(void)
{
    ui_worker_free(wf.w);
    ui_model_stats_free(wf.stats);
    ui_layer_times_free(wf.times[0]);
    ui_layer_times_free(wf.times[1]);
    sb_dataset_free(wf.d);
    sb_model_free(wf.m);
}

static bool per_model(ui_job_kind k)
{
    return k == UI_JOB_EVAL || k == UI_JOB_LATENCY || k == UI_JOB_LAYERS;
}

/* Collects reports until kind reaches a final state for gen (or 60 s pass). */
static const ui_job_report *await(ui_job_kind kind, uint64_t gen)
{
    int row = per_model(kind) && gen == 0 ? 0 : 1;
    for (int waited = 0; waited < 60000; waited += 10) {
        ui_job_report r[UI_WORKER_SLOTS];
        int n = ui_worker_take(wf.w, r);
        for (int i = 0; i < n; i++) {
            int rr = per_model(r[i].kind) && r[i].generation == 0 ? 0 : 1;
            wf.last[rr][r[i].kind] = r[i];
        }
        for (ui_layer_times *t; (t = ui_worker_take_times(wf.w));) {
            ui_layer_times_free(wf.times[t->generation != 0]);
            wf.times[t->generation != 0] = t;
        }
        ui_model_stats *st = ui_worker_take_stats(wf.w);
        if (st) {
            ui_model_stats_free(wf.stats);
            wf.stats = st;
        }
        const ui_job_report *l = &wf.last[row][kind];
        if (l->generation == gen && l->state >= UI_JOB_DONE)
            return l;
        struct pollfd p = {.fd = ui_worker_fd(wf.w), .events = POLLIN};
        poll(&p, 1, 10);
    }
    cr_assert_fail("no final report of job %d for generation %llu", kind, (unsigned long long)gen);
    return NULL;
}

TestSuite(worker, .init = worker_setup, .fini = worker_teardown, .timeout = 120);

Test(worker, baseline_then_edits_compress_evaluate_and_keep_the_last_good_model)
{
    if (!wf.w)
        cr_skip_test("needs " WORKER_MODEL " and " WORKER_DATA);
    sb_error err = {0};
    ui_worker_submit_eval(wf.w, 0, NULL, NULL);
    const ui_job_report *r = await(UI_JOB_EVAL, 0);
    cr_assert_eq(r->state, UI_JOB_DONE, "%s", r->error);
    cr_assert_eq(r->progress.total, 256);
    cr_assert_gt(r->progress.correct1, 200);
    ui_worker_submit_latency(wf.w, 0);
    r = await(UI_JOB_LATENCY, 0);
    cr_assert_eq(r->state, UI_JOB_DONE, "%s", r->error);
    cr_assert_gt(r->latency.median_ms, 0);

    sb_config c;
    cr_assert_eq(sb_config_new(wf.m, &c, &err), SB_OK);
    c.layer[1] = (sb_layer_config){.prune = SB_PRUNE_L1, .ratio = 0.5, .wbits = 32};
    cr_assert(ui_worker_submit_eval(wf.w, 1, &c, NULL));
    r = await(UI_JOB_EVAL, 1);
    cr_assert_eq(r->state, UI_JOB_DONE, "%s", r->error);
    cr_assert_geq(r->progress.agree, 0, "agreement with the base model's predictions");
    cr_assert_leq(r->progress.agree, 256);
    cr_assert_not_null(wf.stats);
    cr_assert_eq(wf.stats->generation, 1u);
    cr_assert_eq(wf.stats->layer[1].out_channels, 8, "conv2 thinned from 16 to 8 channels");
    cr_assert_lt(wf.stats->size.macs, sb_model_size(wf.m).macs);

    c.layer[0].act8 = true; /* needs the training split, which this worker has not got */
    ui_model_stats *before = wf.stats;
    cr_assert(ui_worker_submit_eval(wf.w, 2, &c, NULL));
    r = await(UI_JOB_EVAL, 2);
    cr_assert_eq(r->state, UI_JOB_FAILED);
    cr_assert(strstr(r->error, "a8"), "%s", r->error);
    cr_assert_eq(wf.stats, before, "no new model: the previous one's numbers stand");

    char path[] = "/tmp/sbtest-export-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    cr_assert(ui_worker_submit_file(wf.w, UI_FILE_REPORT_CSV, path, 1, &c, NULL));
    r = await(UI_JOB_FILE, 1);
    cr_assert_eq(r->state, UI_JOB_DONE, "%s", r->error);
    FILE *f = fopen(path, "r");
    char line[512] = "";
    cr_assert(f && fgets(line, sizeof line, f));
    cr_assert(strncmp(line, "row,layer,op", 12) == 0, "%s", line);
    fclose(f);
    c.layer[0].act8 = false;
    wf.last[1][UI_JOB_FILE].state = UI_JOB_IDLE; /* wait for this one */
    cr_assert(ui_worker_submit_file(wf.w, UI_FILE_EXPORT_ONNX, path, 1, &c, NULL));
    r = await(UI_JOB_FILE, 1);
    cr_assert_eq(r->state, UI_JOB_DONE, "%s", r->error);
    sb_model *back = NULL;
    cr_assert_eq(sb_model_load(path, &back, &err), SB_OK, "%s", err.msg);
    sb_layer_info li;
    sb_model_layer(back, 1, &li);
    cr_assert_eq(li.out_channels, 8, "the exported model is the thinned one");
    sb_model_free(back);
    unlink(path);
    sb_config_free(&c);
}

Test(worker, per_layer_times_of_the_base_and_of_an_edit_with_the_kernels_the_plan_chose)
{
    if (!wf.w)
        cr_skip_test("needs " WORKER_MODEL " and " WORKER_DATA);
    sb_error err = {0};
    ui_worker_submit_layers(wf.w, 0);
    const ui_job_report *r = await(UI_JOB_LAYERS, 0);
    cr_assert_eq(r->state, UI_JOB_DONE, "%s", r->error);
    const ui_layer_times *t = wf.times[0];
    cr_assert_not_null(t);
    cr_assert_eq(t->generation, 0u);
    cr_assert_eq(t->n_layers, sb_model_num_layers(wf.m));
    cr_assert_null(t->base, "the base model alone");
    for (int i = 0; i < t->n_layers; i++)
        cr_assert_gt(t->layer[i].median_ms, 0, "layer %d has a step of its own", i);
    cr_assert_gt(t->run.median_ms, 0);

    sb_config c;
    cr_assert_eq(sb_config_new(wf.m, &c, &err), SB_OK);
    /* fc1 with 90% of its weights zero: the plan's rule runs it on the sparse kernel */
    c.layer[2] = (sb_layer_config){.prune = SB_PRUNE_MAGNITUDE, .ratio = 0.9, .wbits = 32};
    cr_assert(ui_worker_submit_eval(wf.w, 1, &c, NULL));
    r = await(UI_JOB_EVAL, 1);
    cr_assert_eq(r->state, UI_JOB_DONE, "%s", r->error);
    cr_assert_eq(wf.stats->generation, 1u);
    cr_assert_str_eq(wf.stats->layer[2].kernel, "sparse-csr");
    cr_assert_str_eq(wf.stats->layer[1].kernel, "f32");
    ui_worker_submit_layers(wf.w, 1);
    r = await(UI_JOB_LAYERS, 1);
    cr_assert_eq(r->state, UI_JOB_DONE, "%s", r->error);
    t = wf.times[1];
    cr_assert_not_null(t);
    cr_assert_eq(t->generation, 1u);
    cr_assert_not_null(t->base, "the base model timed beside the edit");
    for (int i = 0; i < t->n_layers; i++)
        cr_assert(t->layer[i].median_ms > 0 && t->base[i].median_ms > 0, "layer %d", i);
    ui_worker_submit_layers(wf.w, 7);
    r = await(UI_JOB_LAYERS, 7);
    cr_assert_eq(r->state, UI_JOB_FAILED, "no model for a generation never built");
    sb_config_free(&c);
}

Test(worker, an_edit_interrupts_the_base_models_layer_times_which_run_again_after_it)
{
    if (!wf.w)
        cr_skip_test("needs " WORKER_MODEL " and " WORKER_DATA);
    ui_worker_opts o = {.model = wf.m, .data = wf.d, .threads = 1, .latency_seconds = 3,
                        .eval_limit = 256};
    sb_error err = {0};
    cr_assert_eq(sb_preprocess_from_model(wf.m, &o.pp, &err), SB_OK);
    ui_worker_free(wf.w);
    cr_assert_not_null(wf.w = ui_worker_new(&o));
    ui_worker_submit_layers(wf.w, 0); /* three rounds of a second each */
    for (int i = 0; i < 500 && wf.last[0][UI_JOB_LAYERS].state != UI_JOB_RUNNING; i++) {
        ui_job_report r[UI_WORKER_SLOTS];
        int n = ui_worker_take(wf.w, r);
        for (int k = 0; k < n; k++)
            if (r[k].kind == UI_JOB_LAYERS)
                wf.last[0][UI_JOB_LAYERS] = r[k];
        usleep(10000);
    }
    cr_assert_eq(wf.last[0][UI_JOB_LAYERS].state, UI_JOB_RUNNING);
    sb_config c;
    cr_assert_eq(sb_config_new(wf.m, &c, &err), SB_OK);
    c.layer[1] = (sb_layer_config){.prune = SB_PRUNE_MAGNITUDE, .ratio = 0.5, .wbits = 32};
    cr_assert(ui_worker_submit_eval(wf.w, 1, &c, NULL));
    const ui_job_report *r = await(UI_JOB_EVAL, 1);
    cr_assert_eq(r->state, UI_JOB_DONE, "%s", r->error);
    cr_assert_null(wf.times[0], "the base's times gave way to the edit");
    r = await(UI_JOB_LAYERS, 0);
    cr_assert_eq(r->state, UI_JOB_DONE, "%s", r->error);
    cr_assert_not_null(wf.times[0], "and were measured after it");
    sb_config_free(&c);
}

Test(worker, a_newer_edit_cancels_the_older_and_a_sweep_waits_behind_it)
{
    if (!wf.w)
        cr_skip_test("needs " WORKER_MODEL " and " WORKER_DATA);
    sb_error err = {0};
    sb_config c;
    cr_assert_eq(sb_config_new(wf.m, &c, &err), SB_OK);
    ui_worker_submit_eval(wf.w, 0, NULL, NULL);
    cr_assert_eq(await(UI_JOB_EVAL, 0)->state, UI_JOB_DONE);
    ui_worker_submit_sweep(wf.w, 7, 3, SB_PRUNE_MAGNITUDE);
    c.layer[2] = (sb_layer_config){.prune = SB_PRUNE_MAGNITUDE, .ratio = 0.3, .wbits = 32};
    ui_worker_submit_eval(wf.w, 1, &c, NULL);
    c.layer[2].ratio = 0.6;
    ui_worker_submit_eval(wf.w, 2, &c, NULL);
    const ui_job_report *r = await(UI_JOB_EVAL, 2);
    cr_assert_eq(r->state, UI_JOB_DONE, "%s", r->error);
    cr_assert(wf.last[1][UI_JOB_EVAL].generation == 2);
    r = await(UI_JOB_SWEEP, 7);
    cr_assert_eq(r->state, UI_JOB_DONE, "the sweep ran (again) after the evaluation: %s",
                 r->error);
    cr_assert_eq(r->n_points, UI_SWEEP_MAX);
    cr_assert_eq(r->layer, 3);
    cr_assert_eq(r->points[0].images, 128);
    cr_assert_geq(r->points[0].correct1, r->points[9].correct1);
    ui_worker_submit_sweep(wf.w, 8, 3, SB_PRUNE_L1);
    ui_worker_cancel(wf.w, UI_JOB_SWEEP);
    c.layer[2].ratio = 0.1;
    ui_worker_submit_eval(wf.w, 3, &c, NULL);
    cr_assert_eq(await(UI_JOB_EVAL, 3)->state, UI_JOB_DONE);
    const ui_job_report *sw = &wf.last[1][UI_JOB_SWEEP];
    cr_assert(sw->generation != 8 || sw->state == UI_JOB_CANCELLED,
              "a cancelled sweep stays stopped");
    sb_config_free(&c);
}

/* A worker with the training split: fine-tunes lenet5 for a few steps on a few images. */
static ui_worker *training_worker(void)
{
    ui_worker_opts o = {.model = wf.m,
                        .data = wf.d,
                        .data_dir = WORKER_DATA,
                        .threads = 1,
                        .latency_seconds = 0.05,
                        .eval_limit = 256};
    sb_error err = {0};
    cr_assert_eq(sb_preprocess_from_model(wf.m, &o.pp, &err), SB_OK);
    ui_worker_free(wf.w);
    wf.w = ui_worker_new(&o);
    cr_assert_not_null(wf.w);
    return wf.w;
}

Test(worker, fine_tuning_without_a_training_split_says_what_to_do)
{
    if (!wf.w)
        cr_skip_test("needs " WORKER_MODEL " and " WORKER_DATA);
    sb_error err = {0};
    sb_config c;
    cr_assert_eq(sb_config_new(wf.m, &c, &err), SB_OK);
    c.layer[1] = (sb_layer_config){.prune = SB_PRUNE_MAGNITUDE, .ratio = 0.8, .wbits = 32};
    sb_train_options o = sb_train_options_default();
    o.steps = 2;
    cr_assert(ui_worker_submit_train(wf.w, 1, &c, NULL, &o, false));
    const ui_job_report *r = await(UI_JOB_TRAIN, 1);
    cr_assert_eq(r->state, UI_JOB_FAILED);
    cr_assert(strstr(r->error, "--data"), "%s", r->error);
    uint64_t gen;
    cr_assert_null(ui_worker_take_trained(wf.w, &gen));
    sb_config_free(&c);
}

/* The trained weights come back as a snapshot; evaluating it (as the UI does for the new
 * generation) and exporting it give the fine-tuned model, not the Config re-applied. */
Test(worker, fine_tuned_weights_are_evaluated_and_exported)
{
    if (!wf.w)
        cr_skip_test("needs " WORKER_MODEL " and " WORKER_DATA);
    training_worker();
    sb_error err = {0};
    sb_config c;
    cr_assert_eq(sb_config_new(wf.m, &c, &err), SB_OK);
    c.layer[1] = (sb_layer_config){.prune = SB_PRUNE_MAGNITUDE, .ratio = 0.9, .wbits = 32};
    cr_assert(ui_worker_submit_eval(wf.w, 1, &c, NULL));
    const ui_job_report *r = await(UI_JOB_EVAL, 1);
    cr_assert_eq(r->state, UI_JOB_DONE, "%s", r->error);
    int before = r->progress.correct1;
    sb_train_options o = sb_train_options_default();
    o.steps = 40;
    o.limit = 1280;
    o.distill = true;
    cr_assert(ui_worker_submit_train(wf.w, 1, &c, NULL, &o, false));
    r = await(UI_JOB_TRAIN, 1);
    cr_assert_eq(r->state, UI_JOB_DONE, "%s", r->error);
    cr_assert_eq(r->train.steps, 40);
    uint64_t gen = 0;
    ui_weights *wt = ui_worker_take_trained(wf.w, &gen);
    cr_assert_not_null(wt);
    cr_assert_eq(gen, 1u);
    cr_assert(strstr(wt->note, "40 steps") && strstr(wt->note, "distilled"), "%s", wt->note);

    cr_assert(ui_worker_submit_eval(wf.w, 2, &c, wt));
    r = await(UI_JOB_EVAL, 2);
    cr_assert_eq(r->state, UI_JOB_DONE, "%s", r->error);
    int after = r->progress.correct1;
    cr_assert_gt(after, before, "40 steps win accuracy back from 90%% pruning (%d -> %d of 256)",
                 before, after);

    char path[] = "/tmp/sbtest-ft-XXXXXX";
    close(mkstemp(path));
    cr_assert(ui_worker_submit_file(wf.w, UI_FILE_EXPORT_ONNX, path, 2, &c, wt));
    r = await(UI_JOB_FILE, 2);
    cr_assert_eq(r->state, UI_JOB_DONE, "%s", r->error);
    cr_assert(strstr(r->error, "fine-tuned"), "%s", r->error);
    sb_model *back = NULL;
    cr_assert_eq(sb_model_load(path, &back, &err), SB_OK, "%s", err.msg);
    sb_preprocess pp;
    cr_assert_eq(sb_preprocess_from_model(back, &pp, &err), SB_OK);
    sb_eval_options eo = {.limit = 256};
    sb_eval_result er = {0};
    cr_assert_eq(sb_eval(back, wf.d, &pp, &eo, &er, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(er.correct1, after, "the exported file is the fine-tuned model");
    sb_eval_result_free(&er);
    sb_model_free(back);
    unlink(path);
    ui_weights_unref(wt); /* the worker may still hold its own reference */
    sb_config_free(&c);
}

Test(worker, a_cancelled_fine_tune_hands_back_nothing)
{
    if (!wf.w)
        cr_skip_test("needs " WORKER_MODEL " and " WORKER_DATA);
    training_worker();
    sb_error err = {0};
    sb_config c;
    cr_assert_eq(sb_config_new(wf.m, &c, &err), SB_OK);
    c.layer[1] = (sb_layer_config){.prune = SB_PRUNE_MAGNITUDE, .ratio = 0.5, .wbits = 32};
    sb_train_options o = sb_train_options_default();
    o.steps = 100000;
    cr_assert(ui_worker_submit_train(wf.w, 1, &c, NULL, &o, false));
    for (int waited = 0; waited < 60000 && wf.last[1][UI_JOB_TRAIN].train.step < 2; waited += 10) {
        ui_job_report r[UI_WORKER_SLOTS];
        int n = ui_worker_take(wf.w, r);
        for (int i = 0; i < n; i++)
            wf.last[1][r[i].kind] = r[i];
        struct pollfd p = {.fd = ui_worker_fd(wf.w), .events = POLLIN};
        poll(&p, 1, 10);
    }
    cr_assert_geq(wf.last[1][UI_JOB_TRAIN].train.step, 2, "training started");
    ui_worker_cancel(wf.w, UI_JOB_TRAIN);
    const ui_job_report *r = await(UI_JOB_TRAIN, 1);
    cr_assert_eq(r->state, UI_JOB_CANCELLED, "%s", r->error);
    uint64_t gen;
    cr_assert_null(ui_worker_take_trained(wf.w, &gen));
    sb_config_free(&c);
}
