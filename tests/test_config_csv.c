/* The Config's CSV form (engine/config_csv.c, docs/csv.md): exact files for known configs,
 * export → import round trips on the sample models with random configs, and one exact message
 * per kind of malformed file (fixtures in tests/data/csv/). */
#include "compress.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CSV_DIR "tests/data/csv/"
#define TINY "tests/data/onnx/tiny_ok.onnx" /* layers: conv (Conv), fc (Gemm, the output) */
#define HEADER                                                                                     \
    "layer,op,prune_method,prune_ratio,quant_weight_bits,quant_granularity,quant_symmetric,"       \
    "quant_activations\n"

static sb_model *load_model(const char *path)
{
    sb_model *m = NULL;
    sb_error err = {0};
    cr_assert_eq(sb_model_load(path, &m, &err), SB_OK, "%s: %s", path, err.msg);
    return m;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0, got;
    do {
        if (n + 4096 + 1 > cap)
            cr_assert_not_null(buf = realloc(buf, cap = 2 * (n + 4096 + 1)));
        got = fread(buf + n, 1, 4096, f);
        n += got;
    } while (got > 0);
    fclose(f);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

/* A fresh path in /tmp (the file exists, empty); the caller unlinks it. */
static void temp_path(char path[64])
{
    strcpy(path, "/tmp/sb_config_csv_XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
}

static void save_ok(const sb_model *m, const sb_config *c, const char *path)
{
    sb_error err = {0};
    cr_assert_eq(sb_config_save_csv(m, c, path, &err), SB_OK, "save: %s", err.msg);
}

static void load_ok(const sb_model *m, const char *path, sb_config *c)
{
    sb_error err = {0};
    cr_assert_eq(sb_config_load_csv(m, path, c, &err), SB_OK, "%s: %s", path, err.msg);
    cr_assert_eq(c->n_layers, sb_model_num_layers(m));
}

/* Saves c, checks the file's text when `want` is given, loads it back and checks equality;
 * returns the text. */
static char *round_trip(const sb_model *m, const sb_config *c, const char *want)
{
    char path[64];
    temp_path(path);
    save_ok(m, c, path);
    char *text = read_all(path, NULL);
    if (want)
        cr_assert_str_eq(text, want);
    sb_config back;
    load_ok(m, path, &back);
    cr_assert(sb_config_equal(c, &back), "the loaded config differs from the saved one:\n%s", text);
    sb_config_free(&back);
    unlink(path);
    return text;
}

static sb_config new_config(const sb_model *m)
{
    sb_config c;
    sb_error err = {0};
    cr_assert_eq(sb_config_new(m, &c, &err), SB_OK);
    return c;
}

/* ---- known files ---- */

static sb_config tiny_full_config(const sb_model *m)
{
    sb_config c = new_config(m);
    c.layer[0] = (sb_layer_config){.prune = SB_PRUNE_L1,
                                   .ratio = 0.25,
                                   .wbits = 4,
                                   .gran = SB_GRAN_TENSOR,
                                   .asymmetric = true,
                                   .act8 = true};
    c.layer[1] = (sb_layer_config){.prune = SB_PRUNE_MAGNITUDE, .ratio = 0.1, .wbits = 6};
    c.calib = SB_CALIB_PERCENTILE;
    c.percentile = 99.5;
    c.calib_images = 64;
    return c;
}

Test(config_csv_save, exact_file_for_a_known_config)
{
    sb_model *m = load_model(TINY);
    sb_config c = tiny_full_config(m);
    char *want = read_all(CSV_DIR "tiny_full.csv", NULL);
    free(round_trip(m, &c, want));
    free(want);
    sb_config_free(&c);
    sb_model_free(m);
}

Test(config_csv_load, known_file_gives_known_config)
{
    sb_model *m = load_model(TINY);
    sb_config want = tiny_full_config(m), got;
    load_ok(m, CSV_DIR "tiny_full.csv", &got);
    cr_assert(sb_config_equal(&want, &got));
    sb_config_free(&want);
    sb_config_free(&got);
    sb_model_free(m);
}

Test(config_csv_save, default_config_is_the_header_alone)
{
    sb_model *m = load_model(TINY);
    sb_config c = new_config(m), got;
    free(round_trip(m, &c, HEADER));
    load_ok(m, CSV_DIR "tiny_header_only.csv", &got);
    cr_assert(sb_config_equal(&c, &got));
    sb_config_free(&got);
    sb_config_free(&c);
    sb_model_free(m);
}

Test(config_csv, global_rows_share_the_configs_ratio)
{
    sb_model *m = load_model(TINY);
    sb_config c;
    load_ok(m, CSV_DIR "tiny_global.csv", &c);
    cr_assert_eq(c.global_ratio, 0.3);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(c.layer[i].prune, SB_PRUNE_GLOBAL);
        cr_assert_eq(c.layer[i].ratio, 0); /* as --prune global=R leaves it */
    }
    cr_assert_eq(c.layer[0].wbits, 8);
    cr_assert_eq(c.layer[1].wbits, 32);
    char *want = read_all(CSV_DIR "tiny_global.csv", NULL);
    free(round_trip(m, &c, want));
    free(want);
    sb_config_free(&c);
    sb_model_free(m);
}

Test(config_csv_load, handwritten_file_with_comments_crlf_bom_quotes_and_aliases)
{
    sb_model *m = load_model(TINY);
    sb_config c;
    load_ok(m, CSV_DIR "tiny_handwritten.csv", &c);
    sb_config want = new_config(m);
    want.layer[1] = (sb_layer_config){.prune = SB_PRUNE_MAGNITUDE,
                                      .ratio = 0.5,
                                      .wbits = 8,
                                      .gran = SB_GRAN_TENSOR,
                                      .asymmetric = true};
    want.layer[0] = (sb_layer_config){.prune = SB_PRUNE_NONE, .wbits = 32, .act8 = true};
    want.calib_images = 100;
    cr_assert(sb_config_equal(&want, &c));
    /* written back in the canonical form: display names, model order, no comments but the
     * calibration line */
    free(round_trip(m, &c,
                    "# calibration: minmax images 100\n" HEADER
                    "conv,Conv,none,0,32,channel,sym,a8\n"
                    "fc,Gemm,magnitude,0.5,8,tensor,asym,none\n"));
    sb_config_free(&want);
    sb_config_free(&c);
    sb_model_free(m);
}

Test(config_csv_load, files_without_a_final_line_break)
{
    sb_model *m = load_model(TINY);
    sb_config want = new_config(m), got;
    want.layer[0].act8 = true;
    want.calib_images = 7;
    load_ok(m, CSV_DIR "no_final_newline.csv", &got); /* the last row ends the file */
    cr_assert(sb_config_equal(&want, &got));
    sb_config_free(&got);
    want.calib_images = 512;
    want.calib = SB_CALIB_PERCENTILE;
    want.percentile = 99.9;
    load_ok(m, CSV_DIR "comment_at_end.csv", &got); /* the calibration line ends the file */
    cr_assert(sb_config_equal(&want, &got));
    sb_config_free(&got);
    sb_config_free(&want);
    sb_model_free(m);
}

Test(config_csv, every_quantisation_setting_round_trips)
{
    static const int bits[] = {32, 8, 6, 4, 2};
    sb_model *m = load_model(TINY);
    sb_config c = new_config(m);
    for (int b = 0; b < 5; b++)
        for (int k = 0; k < 8; k++) {
            c.layer[0] = (sb_layer_config){.prune = SB_PRUNE_NONE,
                                           .wbits = bits[b],
                                           .gran = k & 1 ? SB_GRAN_TENSOR : SB_GRAN_CHANNEL,
                                           .asymmetric = k & 2,
                                           .act8 = k & 4};
            c.layer[1] = c.layer[0];
            if (sb_layer_config_is_default(&c.layer[0])) /* 32-bit, no a8: not in the file */
                c.layer[0] = SB_LAYER_DEFAULT;
            c.layer[1].prune = SB_PRUNE_MAGNITUDE;
            c.layer[1].ratio = 0.75;
            char want[512];
            char *text = round_trip(m, &c, NULL);
            /* a row is written only for a layer that does something */
            bool conv_row = strstr(text, "\nconv,") != NULL;
            cr_assert_eq(conv_row, !sb_layer_config_is_default(&c.layer[0]), "%s", text);
            snprintf(want, sizeof want, "fc,Gemm,magnitude,0.75,%d,%s,%s,%s\n", bits[b],
                     k & 1 ? "tensor" : "channel", k & 2 ? "asym" : "sym", k & 4 ? "a8" : "none");
            cr_assert_not_null(strstr(text, want), "%s lacks %s", text, want);
            free(text);
        }
    sb_config_free(&c);
    sb_model_free(m);
}

Test(config_csv, calibration_line_round_trips)
{
    struct {
        sb_calib_method calib;
        double pct;
        int images;
        const char *line;
    } cases[] = {
        {SB_CALIB_MINMAX, 99.99, 512, ""},
        {SB_CALIB_MINMAX, 99.99, 100, "# calibration: minmax images 100\n"},
        {SB_CALIB_PERCENTILE, 99.99, 512, "# calibration: percentile 99.99 images 512\n"},
        {SB_CALIB_PERCENTILE, 100, 1, "# calibration: percentile 100 images 1\n"},
        {SB_CALIB_PERCENTILE, 50.000000000000007, 2147483647,
         "# calibration: percentile 50.00000000000001 images 2147483647\n"},
    };
    sb_model *m = load_model(TINY);
    sb_config c = new_config(m);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        c.calib = cases[i].calib;
        c.percentile = cases[i].pct;
        c.calib_images = cases[i].images;
        char want[512];
        snprintf(want, sizeof want, "%s" HEADER, cases[i].line);
        free(round_trip(m, &c, want));
    }
    sb_config_free(&c);
    sb_model_free(m);
}

Test(config_csv, ratios_are_written_shortest_and_read_back_exactly)
{
    sb_model *m = load_model(TINY);
    sb_config c = new_config(m);
    c.layer[0].prune = SB_PRUNE_MAGNITUDE;
    struct {
        double r;
        const char *text;
    } cases[] = {{0, "0"},
                 {0.1, "0.1"},
                 {1.0 / 3, "0.3333333333333333"},
                 {0.99999999999999989, "0.9999999999999999"}, /* the largest double below 1 */
                 {0.0001, "0.0001"},
                 {1e-5, "1e-05"},
                 {5e-324, "5e-324"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        c.layer[0].ratio = cases[i].r;
        char want[512];
        snprintf(want, sizeof want, HEADER "conv,Conv,magnitude,%s,32,channel,sym,none\n",
                 cases[i].text);
        free(round_trip(m, &c, want));
    }
    sb_config_free(&c);
    sb_model_free(m);
}

/* tiny_ok.onnx with its weights renamed (same lengths, so the protobuf stays valid): the display
 * names become `#c"d` and `a,`, which the writer must quote. */
Test(config_csv, names_that_need_quoting)
{
    size_t len;
    char *onnx = read_all(TINY, &len);
    int renamed = 0;
    for (size_t i = 0; i + 11 <= len; i++) {
        if (memcmp(onnx + i, "conv.weight", 11) == 0)
            memcpy(onnx + i, "#c\"d.weight", 11), renamed++;
        else if (memcmp(onnx + i, "fc.weight", 9) == 0)
            memcpy(onnx + i, "a,.weight", 9), renamed++;
    }
    cr_assert_geq(renamed, 2);
    sb_model *m = NULL;
    sb_error err = {0};
    cr_assert_eq(sb_model_load_mem(onnx, len, "renamed.onnx", &m, &err), SB_OK, "%s", err.msg);
    sb_layer_info info;
    sb_model_layer(m, 0, &info);
    cr_assert_str_eq(info.name, "#c\"d");
    sb_config c = new_config(m);
    c.layer[0] = (sb_layer_config){.prune = SB_PRUNE_MAGNITUDE, .ratio = 0.5, .wbits = 8};
    c.layer[1] = (sb_layer_config){.prune = SB_PRUNE_NONE, .wbits = 4};
    free(round_trip(m, &c,
                    HEADER "\"#c\"\"d\",Conv,magnitude,0.5,8,channel,sym,none\n"
                           "\"a,\",Gemm,none,0,4,channel,sym,none\n"));
    sb_config_free(&c);
    sb_model_free(m);
    free(onnx);
}

/* The file holds what a Config does, not settings that have no effect: those come back as
 * sb_config_new sets them, and saving again gives the same bytes. */
Test(config_csv, settings_without_effect_are_not_kept)
{
    sb_model *m = load_model(TINY);
    sb_config c = new_config(m), canon = new_config(m), back;
    c.layer[0] = (sb_layer_config){.prune = SB_PRUNE_NONE,
                                   .ratio = 0.4,
                                   .wbits = 32,
                                   .gran = SB_GRAN_TENSOR,
                                   .asymmetric = true}; /* a no-op */
    c.layer[1] = (sb_layer_config){.prune = SB_PRUNE_GLOBAL, .ratio = 0.2, .wbits = 8};
    c.global_ratio = 0.6;
    c.percentile = 99.0; /* unused by minmax */
    canon.layer[1] = (sb_layer_config){.prune = SB_PRUNE_GLOBAL, .ratio = 0, .wbits = 8};
    canon.global_ratio = 0.6;
    char path[64];
    temp_path(path);
    save_ok(m, &c, path);
    char *first = read_all(path, NULL);
    cr_assert_str_eq(first, HEADER "fc,Gemm,global,0.6,8,channel,sym,none\n");
    load_ok(m, path, &back);
    cr_assert(sb_config_equal(&back, &canon));
    save_ok(m, &back, path);
    char *second = read_all(path, NULL);
    cr_assert_str_eq(first, second);
    /* global_ratio without any global layer */
    sb_config_free(&back);
    c.layer[1].prune = SB_PRUNE_MAGNITUDE;
    save_ok(m, &c, path);
    load_ok(m, path, &back);
    cr_assert_eq(back.global_ratio, 0);
    free(first);
    free(second);
    unlink(path);
    sb_config_free(&back);
    sb_config_free(&canon);
    sb_config_free(&c);
    sb_model_free(m);
}

/* ---- random round trips on the sample models ---- */

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static double rng_unit(uint64_t *s) /* [0, 1), all 53 bits */
{
    return (double)(rng_next(s) >> 11) * 0x1p-53;
}

/* A random Config in the form the file keeps (see settings_without_effect_are_not_kept). */
static void random_config(const sb_model *m, sb_config *c, uint64_t *s)
{
    static const int bits[] = {32, 8, 6, 4, 2};
    static const double nice[] = {0, 0.1, 0.25, 0.5, 0.9, 0.999};
    bool any_global = false;
    for (int i = 0; i < c->n_layers; i++) {
        sb_layer_config *l = &c->layer[i];
        *l = SB_LAYER_DEFAULT;
        if (rng_next(s) % 4 == 0)
            continue;
        l->prune = (sb_prune_method)(rng_next(s) % 4);
        int g = sb_model_layer_group(m, i);
        sb_group_info gi;
        if (l->prune == SB_PRUNE_L1 && (g < 0 || sb_model_group(m, g, &gi) || !gi.prunable))
            l->prune = SB_PRUNE_MAGNITUDE;
        l->ratio = rng_next(s) % 2 ? rng_unit(s) : nice[rng_next(s) % 6];
        if (l->prune == SB_PRUNE_GLOBAL)
            l->ratio = 0, any_global = true;
        l->wbits = bits[rng_next(s) % 5];
        l->gran = (sb_granularity)(rng_next(s) % 2);
        l->asymmetric = rng_next(s) % 2;
        l->act8 = rng_next(s) % 2;
        if (sb_layer_config_is_default(l))
            *l = SB_LAYER_DEFAULT;
    }
    c->global_ratio = any_global ? rng_unit(s) : 0;
    c->calib = (sb_calib_method)(rng_next(s) % 2);
    c->percentile = c->calib == SB_CALIB_PERCENTILE ? 100 - 50 * rng_unit(s) : 99.99;
    c->calib_images = rng_next(s) % 3 ? 1 + (int)(rng_next(s) % 100000) : 512;
}

static void random_round_trips(const char *model, int n)
{
    if (access(model, R_OK) != 0)
        cr_skip_test("%s is not there (yet): sample_models/make_models.py writes it", model);
    sb_model *m = load_model(model);
    sb_config c = new_config(m);
    uint64_t s = 0x9E3779B97F4A7C15ULL;
    static const char *const seen[] = {
        ",none,",
        ",magnitude,",
        ",l1,",
        ",global,",
        ",32,",
        ",8,",
        ",6,",
        ",4,",
        ",2,",
        ",channel,",
        ",tensor,",
        ",sym,",
        ",asym,",
        ",none\n",
        ",a8\n",
        "# calibration: minmax images ",
        "# calibration: percentile ",
    };
    bool found[sizeof seen / sizeof seen[0]] = {0};
    for (int k = 0; k < n; k++) {
        random_config(m, &c, &s);
        char *text = round_trip(m, &c, NULL);
        for (size_t i = 0; i < sizeof seen / sizeof seen[0]; i++)
            found[i] |= strstr(text, seen[i]) != NULL;
        free(text);
    }
    for (size_t i = 0; i < sizeof seen / sizeof seen[0]; i++)
        cr_assert(found[i], "no random config wrote '%s'", seen[i]);
    sb_config_free(&c);
    sb_model_free(m);
}

Test(config_csv_random, lenet5)
{
    random_round_trips(SB_SAMPLE_DIR "/lenet5.onnx", 200);
}

Test(config_csv_random, resnet8)
{
    random_round_trips(SB_SAMPLE_DIR "/resnet8.onnx", 200);
}

Test(config_csv_random, mobilenet_se)
{
    random_round_trips(SB_SAMPLE_DIR "/mobilenet_se.onnx", 200);
}

/* ---- saving: refused configs and i/o errors ---- */

static void save_error(const sb_config *c, const sb_model *m, const char *path, sb_status status,
                       const char *msg)
{
    sb_error err = {0};
    cr_assert_eq(sb_config_save_csv(m, c, path, &err), status, "%s", err.msg);
    cr_assert_str_eq(err.msg, msg);
}

Test(config_csv_save, refuses_what_it_could_not_load_again)
{
    sb_model *m = load_model(TINY);
    sb_config c = new_config(m);
    const char *out = "/tmp/sb_config_csv_never_written.csv";
    c.layer[0] = (sb_layer_config){.prune = SB_PRUNE_MAGNITUDE, .ratio = 1.5, .wbits = 32};
    save_error(&c, m, out, SB_ERR_ARG,
               "cannot save /tmp/sb_config_csv_never_written.csv: layer 'conv': pruning ratio "
               "1.5 is outside [0, 1)");
    c.layer[0] = (sb_layer_config){.prune = SB_PRUNE_NONE, .ratio = -1, .wbits = 8};
    save_error(&c, m, out, SB_ERR_ARG,
               "cannot save /tmp/sb_config_csv_never_written.csv: layer 'conv': ratio -1 is "
               "outside [0, 1)");
    c.layer[0] = SB_LAYER_DEFAULT;
    c.layer[1] = (sb_layer_config){.prune = SB_PRUNE_L1, .ratio = 0.5, .wbits = 32};
    save_error(&c, m, out, SB_ERR_ARG,
               "cannot save /tmp/sb_config_csv_never_written.csv: layer 'fc': its output "
               "channels cannot be pruned: they reach the model's output");
    c.layer[1] = SB_LAYER_DEFAULT;
    c.calib_images = 0;
    save_error(&c, m, out, SB_ERR_ARG,
               "cannot save /tmp/sb_config_csv_never_written.csv: 0 calibration images "
               "(expected at least 1)");
    cr_assert_neq(access(out, F_OK), 0);
    sb_config_free(&c);
    sb_model_free(m);
}

Test(config_csv_save, unwritable_path)
{
    sb_model *m = load_model(TINY);
    sb_config c = new_config(m);
    save_error(&c, m, "/nonexistent_dir/cfg.csv", SB_ERR_IO,
               "/nonexistent_dir/cfg.csv: cannot write: No such file or directory");
    sb_config_free(&c);
    sb_model_free(m);
}

/* ---- loading: one exact message per malformed file ---- */

static void expect_error(const char *file, sb_status status, const char *msg)
{
    sb_model *m = load_model(TINY);
    sb_config c;
    memset(&c, 0x5a, sizeof c); /* whatever the caller had: the loader must reset it */
    sb_error err = {0};
    sb_status s = sb_config_load_csv(m, file, &c, &err);
    cr_assert_eq(s, status, "status %s for %s: %s", sb_status_str(s), file, err.msg);
    cr_assert_eq(err.status, status);
    cr_assert_str_eq(err.msg, msg);
    cr_assert_null(c.layer, "the config must be left empty on error");
    cr_assert_eq(c.n_layers, 0);
    sb_config_free(&c); /* and freeing it is harmless */
    sb_model_free(m);
}

#define EXPECTED_HEADER                                                                            \
    "layer,op,prune_method,prune_ratio,quant_weight_bits,quant_granularity,quant_symmetric,"       \
    "quant_activations"

Test(config_csv_errors, file_not_found)
{
    expect_error(CSV_DIR "no_such_file.csv", SB_ERR_IO,
                 CSV_DIR "no_such_file.csv: cannot open: No such file or directory");
}

Test(config_csv_errors, directory)
{
    expect_error("tests/data/csv", SB_ERR_IO, "tests/data/csv: cannot read: Is a directory");
}

Test(config_csv_errors, empty_file)
{
    expect_error(CSV_DIR "empty.csv", SB_ERR_FORMAT,
                 CSV_DIR "empty.csv: the file is empty (expected the header row: " EXPECTED_HEADER
                         ")");
}

Test(config_csv_errors, only_comments)
{
    expect_error(CSV_DIR "only_comments.csv", SB_ERR_FORMAT,
                 CSV_DIR "only_comments.csv: no header row, only comments (expected the header "
                         "row: " EXPECTED_HEADER ")");
}

Test(config_csv_errors, header_unknown_column)
{
    expect_error(CSV_DIR "header_unknown_column.csv", SB_ERR_FORMAT,
                 CSV_DIR "header_unknown_column.csv:1:3: unknown column 'method' (expected "
                         "exactly: " EXPECTED_HEADER ")");
}

Test(config_csv_errors, header_missing_column)
{
    expect_error(CSV_DIR "header_missing_column.csv", SB_ERR_FORMAT,
                 CSV_DIR "header_missing_column.csv:1:8: missing column 'quant_activations' "
                         "(expected exactly: " EXPECTED_HEADER ")");
}

Test(config_csv_errors, header_columns_out_of_order)
{
    expect_error(CSV_DIR "header_out_of_order.csv", SB_ERR_FORMAT,
                 CSV_DIR "header_out_of_order.csv:1:2: column 'prune_method' is out of place: "
                         "'op' belongs here (expected exactly: " EXPECTED_HEADER ")");
}

Test(config_csv_errors, header_duplicate_column)
{
    expect_error(CSV_DIR "header_duplicate_column.csv", SB_ERR_FORMAT,
                 CSV_DIR "header_duplicate_column.csv:1:9: duplicate column 'layer' (expected "
                         "exactly: " EXPECTED_HEADER ")");
}

Test(config_csv_errors, header_extra_column)
{
    expect_error(CSV_DIR "header_extra_column.csv", SB_ERR_FORMAT,
                 CSV_DIR "header_extra_column.csv:1:9: unknown column 'comment' (expected "
                         "exactly: " EXPECTED_HEADER ")");
}

Test(config_csv_errors, no_header)
{
    expect_error(
        CSV_DIR "no_header.csv", SB_ERR_FORMAT,
        CSV_DIR
        "no_header.csv:1:1: the first row is not the header (expected exactly: " EXPECTED_HEADER
        ")");
}

Test(config_csv_errors, too_few_fields)
{
    expect_error(CSV_DIR "too_few_fields.csv", SB_ERR_FORMAT,
                 CSV_DIR "too_few_fields.csv:2:6: missing field quant_granularity (each row has "
                         "the header's 8 fields)");
}

Test(config_csv_errors, too_many_fields)
{
    expect_error(CSV_DIR "too_many_fields.csv", SB_ERR_FORMAT,
                 CSV_DIR "too_many_fields.csv:2:9: extra field '' (each row has the header's 8 "
                         "fields)");
}

Test(config_csv_errors, unknown_layer)
{
    expect_error(CSV_DIR "unknown_layer.csv", SB_ERR_FORMAT,
                 CSV_DIR "unknown_layer.csv:2:1: no layer 'conv9' in the model (see slimbench "
                         "inspect)");
}

Test(config_csv_errors, empty_layer_name)
{
    expect_error(CSV_DIR "empty_layer.csv", SB_ERR_FORMAT,
                 CSV_DIR "empty_layer.csv:2:1: empty layer name (expected a layer name, see "
                         "slimbench inspect)");
}

Test(config_csv_errors, duplicate_layer)
{
    expect_error(CSV_DIR "duplicate_layer.csv", SB_ERR_FORMAT,
                 CSV_DIR "duplicate_layer.csv:4:1: layer 'conv' already has a row on line 2 (one "
                         "row per layer)");
}

Test(config_csv_errors, duplicate_layer_under_another_name)
{
    expect_error(CSV_DIR "duplicate_layer_alias.csv", SB_ERR_FORMAT,
                 CSV_DIR "duplicate_layer_alias.csv:3:1: '/conv/Conv' is layer 'conv', which "
                         "already has a row on line 2 (one row per layer)");
}

Test(config_csv_errors, unknown_method)
{
    expect_error(CSV_DIR "unknown_method.csv", SB_ERR_FORMAT,
                 CSV_DIR "unknown_method.csv:2:3: unknown pruning method 'random' (expected "
                         "none, magnitude, l1 or global)");
}

Test(config_csv_errors, ratio_out_of_range)
{
    expect_error(CSV_DIR "ratio_out_of_range.csv", SB_ERR_FORMAT,
                 CSV_DIR "ratio_out_of_range.csv:3:4: ratio '1.2' is outside [0, 1)");
}

Test(config_csv_errors, ratio_negative)
{
    expect_error(CSV_DIR "ratio_negative.csv", SB_ERR_FORMAT,
                 CSV_DIR "ratio_negative.csv:2:4: ratio '-0.1' is outside [0, 1)");
}

Test(config_csv_errors, ratio_not_a_number)
{
    expect_error(CSV_DIR "ratio_not_number.csv", SB_ERR_FORMAT,
                 CSV_DIR "ratio_not_number.csv:2:4: ratio 'half' is not a number (expected a "
                         "decimal in [0, 1), e.g. 0.5)");
}

Test(config_csv_errors, bits_not_supported)
{
    expect_error(CSV_DIR "bits_unsupported.csv", SB_ERR_FORMAT,
                 CSV_DIR "bits_unsupported.csv:2:5: unsupported weight bits '3' (expected 32, 8, "
                         "6, 4 or 2)");
}

Test(config_csv_errors, unknown_granularity)
{
    expect_error(CSV_DIR "granularity_unknown.csv", SB_ERR_FORMAT,
                 CSV_DIR "granularity_unknown.csv:2:6: unknown granularity 'row' (expected "
                         "channel or tensor)");
}

Test(config_csv_errors, unknown_symmetry)
{
    expect_error(CSV_DIR "symmetry_unknown.csv", SB_ERR_FORMAT,
                 CSV_DIR "symmetry_unknown.csv:2:7: unknown symmetry 'symmetric' (expected sym "
                         "or asym)");
}

Test(config_csv_errors, unknown_activation_quantisation)
{
    expect_error(CSV_DIR "activations_unknown.csv", SB_ERR_FORMAT,
                 CSV_DIR "activations_unknown.csv:2:8: unknown activation quantisation 'a4' "
                         "(expected none or a8)");
}

Test(config_csv_errors, l1_on_a_layer_whose_channels_cannot_go)
{
    expect_error(CSV_DIR "l1_not_prunable.csv", SB_ERR_FORMAT,
                 CSV_DIR "l1_not_prunable.csv:3:3: l1 pruning cannot remove the output channels "
                         "of layer 'fc': they reach the model's output (use magnitude or "
                         "global)");
}

Test(config_csv_errors, global_rows_with_different_ratios)
{
    expect_error(CSV_DIR "global_ratio_mismatch.csv", SB_ERR_FORMAT,
                 CSV_DIR "global_ratio_mismatch.csv:3:4: global ratio '0.5' differs from '0.3' "
                         "on line 2 (all global rows share one ratio)");
}

Test(config_csv_errors, quote_inside_an_unquoted_field)
{
    expect_error(CSV_DIR "quote_in_unquoted.csv", SB_ERR_FORMAT,
                 CSV_DIR "quote_in_unquoted.csv:2:1: a quote inside an unquoted field (quote the "
                         "whole field and double the quotes inside it: \"a\"\"b\")");
}

Test(config_csv_errors, text_after_a_closing_quote)
{
    expect_error(CSV_DIR "text_after_quote.csv", SB_ERR_FORMAT,
                 CSV_DIR "text_after_quote.csv:2:2: text after the closing quote of a quoted "
                         "field (a quote inside a quoted field is doubled: \"a\"\"b\")");
}

Test(config_csv_errors, quote_never_closed)
{
    expect_error(CSV_DIR "unterminated_quote.csv", SB_ERR_FORMAT,
                 CSV_DIR "unterminated_quote.csv:3:2: quoted field never closed (expected a "
                         "closing '\"' before the end of the file)");
}

Test(config_csv_errors, nul_byte)
{
    expect_error(CSV_DIR "nul_byte.csv", SB_ERR_FORMAT,
                 CSV_DIR "nul_byte.csv:2:2: the field holds a NUL byte (expected text; is this a "
                         "CSV file?)");
}

Test(config_csv_errors, lines_counted_across_a_quoted_line_break)
{
    expect_error(CSV_DIR "multiline_field.csv", SB_ERR_FORMAT,
                 CSV_DIR "multiline_field.csv:4:4: ratio '1' is outside [0, 1)");
}

Test(config_csv_errors, lines_counted_with_crlf_and_bom)
{
    expect_error(CSV_DIR "crlf_bad_bits.csv", SB_ERR_FORMAT,
                 CSV_DIR "crlf_bad_bits.csv:4:5: unsupported weight bits '16' (expected 32, 8, "
                         "6, 4 or 2)");
}

Test(config_csv_errors, calibration_line_malformed)
{
    expect_error(CSV_DIR "calibration_malformed.csv", SB_ERR_FORMAT,
                 CSV_DIR "calibration_malformed.csv:1:1: malformed calibration line (expected "
                         "'# calibration: minmax [images N]' or '# calibration: percentile P "
                         "[images N]')");
}

Test(config_csv_errors, calibration_percentile_out_of_range)
{
    expect_error(CSV_DIR "calibration_percentile_range.csv", SB_ERR_FORMAT,
                 CSV_DIR "calibration_percentile_range.csv:2:1: calibration percentile '40' is "
                         "outside (50, 100]");
}

Test(config_csv_errors, calibration_images_not_a_count)
{
    expect_error(CSV_DIR "calibration_images.csv", SB_ERR_FORMAT,
                 CSV_DIR "calibration_images.csv:1:1: calibration images '0' is not a whole "
                         "number from 1 to 2147483647");
}

Test(config_csv_errors, calibration_line_twice)
{
    expect_error(CSV_DIR "calibration_twice.csv", SB_ERR_FORMAT,
                 CSV_DIR "calibration_twice.csv:3:1: second calibration line (the first is on "
                         "line 1)");
}
