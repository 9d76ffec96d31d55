/* The activation cache against the full, uncached evaluation (which the oracle suites tie to
 * PyTorch): for edits to the first, a middle and the last layer of each sample model, pruned
 * (magnitude and l1) and quantised (weights and activations), the cached evaluation gives the
 * same predictions, counts and loss to the last bit, and it really resumes cached images. The
 * cut is checked against the layer each edit changes first. Sensitivity sweeps use a cache too. */
#include "compress.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { IMAGES = 320 }; /* not a multiple of the batch: the padded tail runs cached too */

static const char *const models[] = {"lenet5", "resnet8", "mobilenet_se"};

typedef struct fixture {
    sb_model *base;
    sb_dataset *test, *train;
    sb_preprocess pp;
} fixture;

static fixture open_model(const char *name)
{
    fixture f = {0};
    char path[256];
    sb_error err = {0};
    snprintf(path, sizeof path, SB_SAMPLE_DIR "/%s.onnx", name);
    cr_assert_eq(sb_model_load(path, &f.base, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(sb_preprocess_from_model(f.base, &f.pp, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(sb_dataset_open(sb_test_data_dir(), "test", &f.test, &err), SB_OK, "%s",
                 err.msg);
    return f;
}

static void close_model(fixture *f)
{
    sb_dataset_free(f->test);
    sb_dataset_free(f->train);
    sb_model_free(f->base);
}

typedef enum { EDIT_MAGNITUDE, EDIT_L1, EDIT_W4, EDIT_A8, EDIT_KINDS } edit_kind;
static const char *const edit_names[] = {"magnitude 0.5", "l1 0.5", "int4 weights", "a8"};

/* The layer at or after `want` (towards `step`) that an l1 edit may target, else -1. */
static int prunable_near(const sb_model *m, int want, int step)
{
    for (int l = want; l >= 0 && l < sb_model_num_layers(m); l += step) {
        sb_group_info gi;
        int g = sb_model_layer_group(m, l);
        if (g >= 0 && sb_model_group(m, g, &gi) == SB_OK && gi.prunable)
            return l;
    }
    return -1;
}

static sb_model *edited(fixture *f, int layer, edit_kind kind)
{
    sb_config c;
    sb_error err = {0};
    cr_assert_eq(sb_config_new(f->base, &c, &err), SB_OK, "%s", err.msg);
    sb_layer_config *lc = &c.layer[layer];
    if (kind == EDIT_MAGNITUDE || kind == EDIT_L1) {
        lc->prune = kind == EDIT_L1 ? SB_PRUNE_L1 : SB_PRUNE_MAGNITUDE;
        lc->ratio = 0.5;
    }
    lc->wbits = kind == EDIT_W4 ? 4 : 32;
    lc->act8 = kind == EDIT_A8;
    c.calib_images = 64;
    if (kind == EDIT_A8 && !f->train)
        cr_assert_eq(sb_dataset_open(sb_test_data_dir(), "train", &f->train, &err), SB_OK, "%s",
                     err.msg);
    sb_calib_data cd = {.data = f->train, .pp = &f->pp};
    sb_model *cm = NULL;
    cr_assert_eq(sb_compress(f->base, &c, &cd, true, &cm, &err), SB_OK, "%s", err.msg);
    sb_config_free(&c);
    return cm;
}

static sb_eval_result evaluate(fixture *f, sb_model *m, sb_actcache *cache, int batch)
{
    sb_eval_options opt = {.limit = IMAGES, .batch = batch, .cache = cache};
    sb_eval_result r;
    sb_error err = {0};
    cr_assert_eq(sb_eval(m, f->test, &f->pp, &opt, &r, &err), SB_OK, "%s", err.msg);
    return r;
}

static void expect_same(const sb_eval_result *got, const sb_eval_result *want, const char *what)
{
    cr_expect_eq(got->correct1, want->correct1, "%s: top-1 %d, uncached %d", what, got->correct1,
                 want->correct1);
    cr_expect_eq(got->correct5, want->correct5, "%s: top-5 differs", what);
    cr_expect_eq(got->loss, want->loss, "%s: loss %.17g, uncached %.17g", what, got->loss,
                 want->loss);
    cr_expect_eq(memcmp(got->pred, want->pred, (size_t)want->images * sizeof *want->pred), 0,
                 "%s: predictions differ", what);
}

/* The node an edit of `layer` must change first: the layer itself, the FakeQuant in front of
 * it, or for l1 the earliest layer of its channel group. */
static int expect_cut(fixture *f, sb_model *cm, int layer, edit_kind kind, const char *what)
{
    sb_layer_info li;
    int first = layer;
    if (kind == EDIT_L1) {
        sb_group_info gi;
        cr_assert_eq(sb_model_group(f->base, sb_model_layer_group(f->base, layer), &gi), SB_OK);
        for (int i = 0; i < gi.n_members; i++)
            first = gi.members[i] < first ? gi.members[i] : first;
    }
    cr_assert_eq(sb_model_layer(f->base, first, &li), SB_OK);
    char want[600];
    snprintf(want, sizeof want, kind == EDIT_A8 ? "%s/input_quant" : "%s", li.node_name);
    const char *got = sb_model_first_change(f->base, cm);
    cr_expect(got && strcmp(got, want) == 0, "%s: cut at %s, expected %s", what,
              got ? got : "(none)", want);
    return first;
}

/* Uncached, then filling a fresh cache, then served from it: the same to the bit. An edit that
 * changes layer 0 changes the first step, which reads the model input: nothing is kept then. */
static void check_edit(fixture *f, const char *model, int layer, edit_kind kind)
{
    char what[200];
    snprintf(what, sizeof what, "%s layer %d %s", model, layer, edit_names[kind]);
    sb_model *cm = edited(f, layer, kind);
    int resumed = expect_cut(f, cm, layer, kind, what) == 0 ? 0 : IMAGES;
    sb_actcache *cache;
    sb_error err = {0};
    cr_assert_eq(sb_actcache_new(f->base, 0, &cache, &err), SB_OK);
    sb_eval_result want = evaluate(f, cm, NULL, 0);
    sb_eval_result fill = evaluate(f, cm, cache, 0);
    sb_eval_result hit = evaluate(f, cm, cache, 0);
    sb_eval_result small = evaluate(f, cm, cache, 16);
    expect_same(&fill, &want, what);
    expect_same(&hit, &want, what);
    expect_same(&small, &want, what);
    cr_expect_eq(fill.cached, 0, "%s", what);
    cr_expect_eq(hit.cached, resumed, "%s: %d images resumed", what, hit.cached);
    cr_expect_eq(small.cached, resumed, "%s", what);
    sb_eval_result_free(&want), sb_eval_result_free(&fill), sb_eval_result_free(&hit);
    sb_eval_result_free(&small);
    sb_actcache_free(cache);
    sb_model_free(cm);
}

static void check_model(const char *model, edit_kind kind)
{
    fixture f = open_model(model);
    int n = sb_model_num_layers(f.base);
    int layers[3] = {0, n / 2, n - 1};
    if (kind == EDIT_L1) {
        layers[0] = prunable_near(f.base, 0, 1);
        layers[1] = prunable_near(f.base, n / 2, 1);
        layers[2] = prunable_near(f.base, n - 1, -1);
    }
    for (int i = 0; i < 3; i++) {
        cr_assert_geq(layers[i], 0);
        check_edit(&f, model, layers[i], kind);
    }
    close_model(&f);
}

Test(actcache, magnitude_edits_match_the_uncached_evaluation, .timeout = 600)
{
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
        check_model(models[i], EDIT_MAGNITUDE);
}

Test(actcache, l1_edits_match_the_uncached_evaluation, .timeout = 600)
{
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
        check_model(models[i], EDIT_L1);
}

Test(actcache, weight_quant_edits_match_the_uncached_evaluation, .timeout = 600)
{
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
        check_model(models[i], EDIT_W4);
}

Test(actcache, activation_quant_edits_match_the_uncached_evaluation, .timeout = 600)
{
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
        check_model(models[i], EDIT_A8);
}

/* As in the workbench: a late edit, then an earlier one (the cut moves), then the late one
 * again (the cut moves back), and again (resumed); a budget too small for every image. */
Test(actcache, cut_moves_and_partial_caching_stay_exact, .timeout = 300)
{
    fixture f = open_model("resnet8");
    int n = sb_model_num_layers(f.base);
    sb_model *late = edited(&f, n - 1, EDIT_MAGNITUDE), *mid = edited(&f, n / 2, EDIT_W4);
    sb_eval_result want_late = evaluate(&f, late, NULL, 0), want_mid = evaluate(&f, mid, NULL, 0);
    sb_actcache *cache;
    sb_error err = {0};
    cr_assert_eq(sb_actcache_new(f.base, 0, &cache, &err), SB_OK);
    sb_eval_result r[4];
    r[0] = evaluate(&f, late, cache, 0);
    r[1] = evaluate(&f, mid, cache, 0); /* moves the cut */
    sb_actcache_info info = sb_actcache_get_info(cache);
    cr_expect_str_eq(info.cut_node, sb_model_first_change(f.base, mid));
    r[2] = evaluate(&f, late, cache, 0);
    r[3] = evaluate(&f, late, cache, 0);
    cr_expect_eq(r[1].cached, 0);
    cr_expect_eq(r[2].cached, 0);
    cr_expect_eq(r[3].cached, IMAGES);
    expect_same(&r[0], &want_late, "late, filling");
    expect_same(&r[1], &want_mid, "middle, moving the cut");
    expect_same(&r[2], &want_late, "late, moving the cut back");
    expect_same(&r[3], &want_late, "late, resumed");
    sb_eval_result_free(&r[3]);
    sb_actcache_free(cache);

    /* room for 100 images: those resume, the rest run from the input */
    cr_assert_eq(sb_actcache_new(f.base, 100 * info.image_bytes, &cache, &err), SB_OK);
    r[3] = evaluate(&f, mid, cache, 0);
    sb_eval_result_free(&r[3]);
    r[3] = evaluate(&f, mid, cache, 0);
    cr_expect_eq(sb_actcache_get_info(cache).capacity, 100);
    cr_expect_eq(r[3].cached, 64, "whole cached batches resume: %d", r[3].cached);
    expect_same(&r[3], &want_mid, "partial cache");
    sb_actcache_free(cache);
    for (int i = 0; i < 4; i++)
        sb_eval_result_free(&r[i]);
    sb_eval_result_free(&want_late), sb_eval_result_free(&want_mid);
    sb_model_free(late), sb_model_free(mid);
    close_model(&f);
}

/* Other preprocessing or another eval set clears the cache; the base itself has no cut. */
Test(actcache, other_data_clears_the_cache, .timeout = 300)
{
    fixture f = open_model("lenet5");
    sb_model *cm = edited(&f, 2, EDIT_MAGNITUDE);
    sb_actcache *cache;
    sb_error err = {0};
    cr_assert_eq(sb_actcache_new(f.base, 0, &cache, &err), SB_OK);
    sb_eval_result a = evaluate(&f, cm, cache, 0);
    cr_expect_eq(sb_actcache_get_info(cache).images, IMAGES);
    f.pp.mean[0] += 0.25f;
    sb_eval_result want = evaluate(&f, cm, NULL, 0), got = evaluate(&f, cm, cache, 0);
    cr_expect_eq(got.cached, 0);
    expect_same(&got, &want, "after a preprocessing change");
    sb_dataset *other;
    cr_assert_eq(sb_dataset_open(sb_test_data_dir(), "test", &other, &err), SB_OK);
    sb_dataset *test = f.test;
    f.test = other;
    sb_eval_result_free(&got);
    got = evaluate(&f, cm, cache, 0);
    cr_expect_eq(got.cached, 0, "another data set must not resume the first one's images");
    expect_same(&got, &want, "another data set");
    f.test = test;
    sb_dataset_free(other);
    cr_expect_null(sb_model_first_change(f.base, f.base));
    sb_actcache_clear(cache);
    cr_expect_null(sb_actcache_get_info(cache).cut_node);
    sb_eval_result_free(&a), sb_eval_result_free(&want), sb_eval_result_free(&got);
    sb_actcache_free(cache);
    sb_model_free(cm);
    close_model(&f);
}

/* A sweep resumes each layer's ratios from the cache: its points equal separate, uncached
 * evaluations of the same settings. */
static void check_sweep(const char *model, int layer, sb_prune_method method)
{
    fixture f = open_model(model);
    const double ratios[] = {0, 0.3, 0.6, 0.9};
    sb_sweep_options o = {.method = method, .ratios = ratios, .n_ratios = 4, .layers = &layer,
                          .n_layers = 1, .limit = IMAGES};
    sb_sweep_point pts[4];
    sb_error err = {0};
    cr_assert_eq(sb_sweep_count(f.base, &o), 4);
    cr_assert_eq(sb_sweep(f.base, f.test, &f.pp, &o, pts, &err), SB_OK, "%s", err.msg);
    for (int i = 0; i < 4; i++) {
        sb_config c;
        cr_assert_eq(sb_config_new(f.base, &c, &err), SB_OK);
        c.layer[layer].prune = ratios[i] > 0 ? method : SB_PRUNE_NONE;
        c.layer[layer].ratio = ratios[i];
        sb_model *cm = NULL;
        cr_assert_eq(sb_compress(f.base, &c, NULL, true, &cm, &err), SB_OK, "%s", err.msg);
        sb_eval_result want = evaluate(&f, cm, NULL, 0);
        cr_expect_eq(pts[i].correct1, want.correct1, "%s layer %d ratio %g", model, layer,
                     ratios[i]);
        cr_expect_eq(pts[i].correct5, want.correct5);
        cr_expect_eq(pts[i].loss, want.loss, "%s layer %d ratio %g: loss %.17g, uncached %.17g",
                     model, layer, ratios[i], pts[i].loss, want.loss);
        sb_eval_result_free(&want);
        sb_model_free(cm);
        sb_config_free(&c);
    }
    close_model(&f);
}

Test(actcache, sweeps_match_uncached_evaluations, .timeout = 300)
{
    check_sweep("mobilenet_se", 20, SB_PRUNE_MAGNITUDE);
    check_sweep("lenet5", 1, SB_PRUNE_L1);
}

/* mobilenet_se: layer 1's inputs (16x28x28 floats, 50 KB an image) fit a 110 KB budget twice;
 * layer 2's (48x28x28) not once, so an edit there resumes from layer 1's cut instead. */
Test(actcache, an_earlier_cut_serves_when_the_later_one_does_not_fit, .timeout = 300)
{
    fixture f = open_model("mobilenet_se");
    sb_model *early = edited(&f, 1, EDIT_MAGNITUDE), *later = edited(&f, 2, EDIT_W4);
    sb_actcache *cache;
    sb_error err = {0};
    cr_assert_eq(sb_actcache_new(f.base, 110000, &cache, &err), SB_OK);
    sb_eval_result fill = evaluate(&f, early, cache, 2), want = evaluate(&f, later, NULL, 0);
    sb_actcache_info info = sb_actcache_get_info(cache);
    cr_expect_eq(info.capacity, 2, "%zu bytes an image", info.image_bytes);
    sb_eval_result got = evaluate(&f, later, cache, 2);
    cr_expect_eq(got.cached, 2);
    cr_expect_str_eq(sb_actcache_get_info(cache).cut_node, info.cut_node);
    expect_same(&got, &want, "mobilenet_se layer 2 from layer 1's cut");
    sb_eval_result_free(&fill), sb_eval_result_free(&want), sb_eval_result_free(&got);
    sb_actcache_free(cache);
    sb_model_free(early), sb_model_free(later);
    close_model(&f);
}
