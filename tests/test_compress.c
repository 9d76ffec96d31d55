/* Compression against independent truth: PyTorch's accuracies after the same pruning and
 * fake-quantisation (sample_models/fixtures), hand-derived MACs and group structure, and the
 * equivalence of removing channels and merely zeroing them. */
#include "compress.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static sb_model *load(const char *path)
{
    sb_model *m = NULL;
    sb_error err = {0};
    cr_assert_eq(sb_model_load(path, &m, &err), SB_OK, "%s", err.msg);
    return m;
}

static sb_model *sample(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, SB_SAMPLE_DIR "/%s.onnx", name);
    return load(path);
}

static sb_model *compress(const sb_model *m, const sb_config *c, bool thin)
{
    sb_model *cm = NULL;
    sb_error err = {0};
    cr_assert_eq(sb_compress(m, c, NULL, thin, &cm, &err), SB_OK, "%s", err.msg);
    return cm;
}

static int correct_on_test_split(sb_model *m)
{
    sb_preprocess pp;
    sb_dataset *d = NULL;
    sb_error err = {0};
    sb_eval_result r;
    sb_eval_options opt = {.limit = sb_test_eval_limit()};
    cr_assert_eq(sb_preprocess_from_model(m, &pp, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(sb_dataset_open(sb_test_data_dir(), "test", &d, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(sb_eval(m, d, &pp, &opt, &r, &err), SB_OK, "%s", err.msg);
    int correct = r.correct1;
    sb_eval_result_free(&r);
    sb_dataset_free(d);
    return correct;
}

static const char *const models[] = {"lenet5", "resnet8", "mobilenet_se"};

static void expect_case(const char *model, const char *cas, sb_model *base, const sb_config *c)
{
    int want = sb_test_fixture_correct(model, cas);
    cr_assert_geq(want, 0, "no fixture %s/%s", model, cas);
    sb_model *cm = compress(base, c, true);
    int got = correct_on_test_split(cm);
    if (!sb_test_eval_limit())
        cr_expect_eq(got, want, "%s %s: slimbench %d correct, PyTorch %d", model, cas, got, want);
    sb_model_free(cm);
}

Test(oracle_compress, global_magnitude_matches_pytorch, .timeout = 600)
{
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        sb_model *m = sample(models[i]);
        sb_config c;
        sb_error err = {0};
        static const char *const ratios[] = {"global=0.5", "global=0.7", "global=0.9"};
        static const char *const cases[] = {"global_magnitude_50", "global_magnitude_70",
                                            "global_magnitude_90"};
        for (int r = 0; r < 3; r++) {
            cr_assert_eq(sb_config_new(m, &c, &err), SB_OK);
            cr_assert_eq(sb_config_apply_prune_flag(m, &c, ratios[r], &err), SB_OK, "%s",
                         err.msg);
            expect_case(models[i], cases[r], m, &c);
            sb_config_free(&c);
        }
        sb_model_free(m);
    }
}

/* The fixture names the conv whose 50% lowest-L1 channels PyTorch zeroed (weights, bias, BN). */
static void l1_fixture_layer(const char *model, char *weight, size_t n)
{
    FILE *f = fopen(SB_FIXTURE_DIR "/l1_channel_cases.csv", "r");
    char line[4096];
    weight[0] = 0;
    while (f && fgets(line, sizeof line, f)) {
        char *save, *name = strtok_r(line, ",", &save), *node = strtok_r(NULL, ",", &save),
                    *w = strtok_r(NULL, ",", &save);
        if (name && node && w && strcmp(name, model) == 0)
            snprintf(weight, n, "%s", w);
    }
    if (f)
        fclose(f);
    cr_assert(weight[0], "no l1 case for %s", model);
}

Test(oracle_compress, l1_channel_removal_matches_pytorch, .timeout = 300)
{
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        sb_model *m = sample(models[i]);
        char weight[256], flag[300];
        l1_fixture_layer(models[i], weight, sizeof weight);
        snprintf(flag, sizeof flag, "%s=0.5:l1", weight);
        sb_config c;
        sb_error err = {0};
        cr_assert_eq(sb_config_new(m, &c, &err), SB_OK);
        cr_assert_eq(sb_config_apply_prune_flag(m, &c, flag, &err), SB_OK, "%s", err.msg);
        expect_case(models[i], "l1_channel_50", m, &c);
        sb_config_free(&c);
        sb_model_free(m);
    }
}

Test(oracle_compress, per_channel_int8_and_int4_match_pytorch, .timeout = 300)
{
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        sb_model *m = sample(models[i]);
        sb_config c;
        sb_error err = {0};
        cr_assert_eq(sb_config_new(m, &c, &err), SB_OK);
        cr_assert_eq(sb_config_apply_quant_flag(m, &c, "all=8:channel:sym", &err), SB_OK);
        expect_case(models[i], "int8_channel_sym", m, &c);
        cr_assert_eq(sb_config_apply_quant_flag(m, &c, "all=4:channel:sym", &err), SB_OK);
        expect_case(models[i], "int4_channel_sym", m, &c);
        sb_config_free(&c);
        sb_model_free(m);
    }
}

static float *run_first(sb_model *m, int n)
{
    sb_preprocess pp;
    sb_dataset *d = NULL;
    sb_error err = {0};
    cr_assert_eq(sb_preprocess_from_model(m, &pp, &err), SB_OK);
    cr_assert_eq(sb_dataset_open(sb_test_data_dir(), "test", &d, &err), SB_OK, "%s", err.msg);
    sb_tensor in = {.dtype = SB_F32, .shape = {4, {n, 1, 28, 28}}}, out;
    in.data = malloc((size_t)n * 784 * sizeof(float));
    sb_dataset_fill(d, &pp, 0, n, in.data);
    cr_assert_eq(sb_model_run(m, 1, &in, 1, &out, &err), SB_OK, "%s", err.msg);
    sb_tensor_free(&in);
    sb_dataset_free(d);
    return out.data;
}

static void prune_every_group(const sb_model *m, sb_config *c, double ratio)
{
    sb_error err = {0};
    cr_assert_eq(sb_config_new(m, c, &err), SB_OK);
    for (int l = 0; l < c->n_layers; l++) {
        sb_group_info gi;
        int g = sb_model_layer_group(m, l);
        if (g >= 0 && sb_model_group(m, g, &gi) == SB_OK && gi.prunable)
            c->layer[l] = (sb_layer_config){.prune = SB_PRUNE_L1, .ratio = ratio, .wbits = 32};
    }
}

/* Removing channels and zeroing their producers' weights, biases and BatchNorm give the same
 * function: everything downstream of a zeroed channel multiplies zeros. */
Test(structured, thinned_and_masked_models_agree, .timeout = 120)
{
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        sb_model *m = sample(models[i]);
        sb_config c;
        prune_every_group(m, &c, 0.5);
        sb_model *thin = compress(m, &c, true), *mask = compress(m, &c, false);
        float *a = run_first(thin, 64), *b = run_first(mask, 64);
        double worst = 0;
        for (int k = 0; k < 64 * 10; k++)
            worst = fmax(worst, fabs((double)a[k] - b[k]));
        cr_expect_leq(worst, 1e-4, "%s: thinned and masked differ by %g", models[i], worst);
        cr_expect_lt(sb_model_size(thin).params, sb_model_size(mask).params);
        free(a), free(b);
        sb_model_free(thin), sb_model_free(mask);
        sb_config_free(&c);
        sb_model_free(m);
    }
}

/* resnet8 at 50% of every group: every internal conv loses half its inputs and half its
 * outputs (a quarter of its MACs remain); the stem keeps its one input channel and the
 * classifier its ten outputs, so half of theirs remain. */
Test(structured, resnet8_macs_fall_by_the_expected_factor)
{
    sb_model *m = sample("resnet8");
    sb_config c;
    prune_every_group(m, &c, 0.5);
    sb_model *cm = compress(m, &c, true);
    int n = sb_model_num_layers(m);
    double expect = 0;
    for (int l = 0; l < n; l++) {
        sb_layer_info info;
        sb_model_layer(m, l, &info);
        expect += (double)info.macs * (l == 0 || l == n - 1 ? 0.5 : 0.25);
    }
    cr_expect_eq((double)sb_model_size(cm).macs, expect);
    sb_config_free(&c);
    sb_model_free(cm);
    sb_model_free(m);
}

/* resnet8's residual streams: the stem and the second conv of each stage-1 block and the
 * Adds share 16 channels; each later stage couples its shortcut conv with its blocks' second
 * convs. The classifier's outputs reach the model output and cannot be pruned. */
Test(structured, resnet8_groups_follow_the_residual_streams)
{
    sb_model *m = sample("resnet8");
    int stem = sb_model_find_layer(m, "conv1");
    if (stem < 0)
        stem = 0;
    int fc = sb_model_num_layers(m) - 1;
    sb_group_info gi;
    int g = sb_model_layer_group(m, stem);
    cr_assert_geq(g, 0);
    cr_assert_eq(sb_model_group(m, g, &gi), SB_OK);
    cr_expect(gi.prunable);
    cr_expect_eq(gi.channels, 16);
    cr_assert_eq(sb_model_group(m, sb_model_layer_group(m, fc), &gi), SB_OK);
    cr_expect_not(gi.prunable);
    cr_expect_str_eq(gi.why_not, "they reach the model's output");
    sb_model_free(m);
}

/* tiny_ok's conv holds 18 weights; 50% magnitude pruning zeroes exactly the 9 smallest. */
Test(unstructured, magnitude_zeroes_the_smallest_weights)
{
    sb_model *m = load("tests/data/onnx/tiny_ok.onnx");
    sb_config c;
    sb_error err = {0};
    cr_assert_eq(sb_config_new(m, &c, &err), SB_OK);
    cr_assert_eq(sb_config_apply_prune_flag(m, &c, "conv=0.5", &err), SB_OK, "%s", err.msg);
    sb_model *cm = compress(m, &c, true);
    sb_layer_info before, after;
    sb_model_layer(m, 0, &before);
    sb_model_layer(cm, 0, &after);
    cr_expect_eq(after.zeros, 9);
    cr_expect_eq(after.params, before.params);
    sb_layer_info fc;
    sb_model_layer(cm, 1, &fc);
    cr_expect_eq(fc.zeros, 0, "only the named layer is pruned");
    sb_config_free(&c);
    sb_model_free(cm);
    sb_model_free(m);
}

Test(config, flags_reject_bad_input_with_clear_messages)
{
    sb_model *m = load("tests/data/onnx/tiny_ok.onnx");
    sb_config c;
    sb_error err = {0};
    cr_assert_eq(sb_config_new(m, &c, &err), SB_OK);
    cr_expect_eq(sb_config_apply_prune_flag(m, &c, "conv=1.5", &err), SB_ERR_ARG);
    cr_expect_str_eq(err.msg, "--prune conv=1.5: expected LAYER=RATIO[:magnitude|l1] with RATIO "
                              "in [0, 1), e.g. conv1=0.5:l1");
    err = (sb_error){0};
    cr_expect_eq(sb_config_apply_prune_flag(m, &c, "conv9=0.5", &err), SB_ERR_ARG);
    cr_expect_str_eq(err.msg, "--prune: no layer 'conv9' in the model (see `slimbench inspect` "
                              "for names)");
    err = (sb_error){0};
    cr_expect_eq(sb_config_apply_prune_flag(m, &c, "fc=0.5:l1", &err), SB_ERR_ARG);
    cr_expect_str_eq(err.msg, "layer 'fc': its output channels cannot be pruned: they reach the "
                              "model's output");
    err = (sb_error){0};
    cr_expect_eq(sb_config_apply_quant_flag(m, &c, "all=3", &err), SB_ERR_ARG);
    cr_expect_str_eq(err.msg, "--quant all=3: expected LAYER=BITS[:channel|tensor][:sym|asym][:a8] "
                              "with BITS 8, 6, 4 or 2 (32 for float)");
    sb_config_free(&c);
    sb_model_free(m);
}
