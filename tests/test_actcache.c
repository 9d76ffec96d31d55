/* The activation cache against the full, uncached evaluation (which the oracle suites tie to
 * PyTorch): for edits to the first, a middle and the last layer of each sample model, pruned
 * (magnitude and l1) and quantised (weights and activations), the cached evaluation gives the
 * same predictions, counts and loss to the last bit, and it really resumes cached images. The
 * cut is checked against the layer each edit changes first. Sensitivity sweeps use a cache too. */
#include "compress.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <omp.h>
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

/* As in the workbench: a late edit, then an earlier one (a new cut), then the late one again
 * (its cut was kept), with 1, 2 and 3 threads. */
Test(actcache, cuts_are_kept_across_edits_at_any_thread_count, .timeout = 300)
{
    fixture f = open_model("resnet8");
    int n = sb_model_num_layers(f.base);
    sb_model *late = edited(&f, n - 1, EDIT_MAGNITUDE), *mid = edited(&f, n / 2, EDIT_W4);
    sb_eval_result want_late = evaluate(&f, late, NULL, 0), want_mid = evaluate(&f, mid, NULL, 0);
    for (int threads = 1; threads <= 3; threads++) {
        omp_set_num_threads(threads);
        char what[3][64];
        snprintf(what[0], 64, "late, filling (%d threads)", threads);
        snprintf(what[1], 64, "middle, a new cut (%d threads)", threads);
        snprintf(what[2], 64, "late again (%d threads)", threads);
        sb_actcache *cache;
        sb_error err = {0};
        cr_assert_eq(sb_actcache_new(f.base, 0, &cache, &err), SB_OK);
        sb_eval_result r[3] = {evaluate(&f, late, cache, 0), evaluate(&f, mid, cache, 0)};
        sb_actcache_info info = sb_actcache_get_info(cache);
        cr_expect_str_eq(info.cut_node, sb_model_first_change(f.base, mid));
        r[2] = evaluate(&f, late, cache, 0);
        cr_expect_eq(r[1].cached, 0);
        cr_expect_eq(r[2].cached, IMAGES, "%s: the late cut was kept", what[2]);
        cr_expect_eq(sb_actcache_get_info(cache).cuts, 2);
        expect_same(&r[0], &want_late, what[0]);
        expect_same(&r[1], &want_mid, what[1]);
        expect_same(&r[2], &want_late, what[2]);
        for (int i = 0; i < 3; i++)
            sb_eval_result_free(&r[i]);
        sb_actcache_free(cache);
    }
    sb_eval_result_free(&want_late), sb_eval_result_free(&want_mid);
    sb_model_free(late), sb_model_free(mid);
    close_model(&f);
}

/* A later edit resumes at an earlier edit's cut and captures its own on the way: its first
 * evaluation resumes every image, and its cut then holds them all; going back to the earlier
 * layer resumes there (both cuts kept). 1, 2 and 3 threads. */
Test(actcache, a_later_cut_fills_from_an_earlier_one, .timeout = 300)
{
    fixture f = open_model("mobilenet_se");
    int n = sb_model_num_layers(f.base);
    sb_model *mid = edited(&f, n / 2, EDIT_MAGNITUDE), *late = edited(&f, n - 2, EDIT_W4);
    sb_eval_result want_late = evaluate(&f, late, NULL, 0), want_mid = evaluate(&f, mid, NULL, 0);
    for (int threads = 1; threads <= 3; threads++) {
        omp_set_num_threads(threads);
        sb_actcache *cache;
        sb_error err = {0};
        cr_assert_eq(sb_actcache_new(f.base, 0, &cache, &err), SB_OK);
        sb_eval_result r[4] = {evaluate(&f, mid, cache, 0), evaluate(&f, late, cache, 16)};
        sb_actcache_info info = sb_actcache_get_info(cache);
        cr_expect_str_eq(info.cut_node, sb_model_first_change(f.base, late));
        cr_expect_eq(info.images, IMAGES, "%d threads: captured on the way", threads);
        r[2] = evaluate(&f, late, cache, 0);
        r[3] = evaluate(&f, mid, cache, 0);
        cr_expect_eq(r[1].cached, IMAGES, "%d threads: resumed at the earlier cut", threads);
        cr_expect_eq(r[2].cached, IMAGES);
        cr_expect_eq(r[3].cached, IMAGES, "%d threads: the earlier cut was kept", threads);
        expect_same(&r[0], &want_mid, "middle, filling");
        expect_same(&r[1], &want_late, "late, from the middle cut");
        expect_same(&r[2], &want_late, "late, from its own cut");
        expect_same(&r[3], &want_mid, "middle again");
        for (int i = 0; i < 4; i++)
            sb_eval_result_free(&r[i]);
        sb_actcache_free(cache);
    }
    sb_eval_result_free(&want_late), sb_eval_result_free(&want_mid);
    sb_model_free(late), sb_model_free(mid);
    close_model(&f);
}

static size_t image_bytes_at(fixture *f, sb_model *m)
{
    sb_actcache *cache;
    sb_error err = {0};
    cr_assert_eq(sb_actcache_new(f->base, 0, &cache, &err), SB_OK);
    sb_eval_result r = evaluate(f, m, cache, 0);
    size_t bytes = sb_actcache_get_info(cache).image_bytes;
    sb_eval_result_free(&r);
    sb_actcache_free(cache);
    cr_assert_gt(bytes, 0);
    return bytes;
}

/* The cut added for an edit takes the budget first, the one resumed from what is left: with
 * room for every image at the middle cut and the early cut's first IMAGES, the early cut
 * shrinks to those and they resume; with room for the middle cut alone, the early one goes. */
Test(actcache, the_newest_cut_takes_the_budget_first, .timeout = 300)
{
    fixture f = open_model("resnet8");
    int n = sb_model_num_layers(f.base), images = sb_dataset_count(f.test);
    sb_model *early = edited(&f, 2, EDIT_MAGNITUDE), *mid = edited(&f, n / 2, EDIT_W4);
    size_t eb = image_bytes_at(&f, early), mb = image_bytes_at(&f, mid);
    sb_eval_result want_early = evaluate(&f, early, NULL, 0), want_mid = evaluate(&f, mid, NULL, 0);
    for (int room = 1; room >= 0; room--) {
        size_t budget = (size_t)images * mb + (size_t)room * IMAGES * eb;
        sb_actcache *cache;
        sb_error err = {0};
        cr_assert_eq(sb_actcache_new(f.base, budget, &cache, &err), SB_OK);
        sb_eval_result r[4] = {evaluate(&f, early, cache, 0), evaluate(&f, mid, cache, 0)};
        sb_actcache_info info = sb_actcache_get_info(cache);
        cr_expect_eq(info.capacity, images);
        cr_expect_eq(info.cuts, 1 + room);
        cr_expect_eq(info.bytes, budget);
        cr_expect_eq(r[1].cached, room * IMAGES, "resumed at the early cut: %d", r[1].cached);
        r[2] = evaluate(&f, early, cache, 0);
        r[3] = evaluate(&f, mid, cache, 0);
        cr_expect_eq(r[2].cached, room * IMAGES, "the early cut's images: %d", r[2].cached);
        cr_expect_eq(r[3].cached, room * IMAGES);
        expect_same(&r[0], &want_early, "early, filling");
        expect_same(&r[1], &want_mid, "middle, a new cut");
        expect_same(&r[2], &want_early, "early again");
        expect_same(&r[3], &want_mid, "middle again");
        for (int i = 0; i < 4; i++)
            sb_eval_result_free(&r[i]);
        sb_actcache_free(cache);
    }
    sb_eval_result_free(&want_early), sb_eval_result_free(&want_mid);
    sb_model_free(early), sb_model_free(mid);
    close_model(&f);
}

/* Room for 100 images: those resume, the rest run from the input. A micro-batch resumes only
 * when all its images are cached: of 5 images (SB_MICROBATCH), from each batch's first, the
 * batch of images 64-127 has [94, 99) cached, [99, 104) not, so 99 images resume. */
Test(actcache, partial_caching_stays_exact, .timeout = 300)
{
    fixture f = open_model("resnet8");
    sb_model *mid = edited(&f, sb_model_num_layers(f.base) / 2, EDIT_W4);
    sb_eval_result want = evaluate(&f, mid, NULL, 0);
    setenv("SB_MICROBATCH", "5", 1);
    for (int threads = 1; threads <= 3; threads++) {
        omp_set_num_threads(threads);
        sb_actcache *cache;
        sb_error err = {0};
        cr_assert_eq(sb_actcache_new(f.base, 100 * image_bytes_at(&f, mid), &cache, &err), SB_OK);
        sb_eval_result r = evaluate(&f, mid, cache, 0);
        sb_eval_result_free(&r);
        r = evaluate(&f, mid, cache, 0);
        cr_expect_eq(sb_actcache_get_info(cache).capacity, 100);
        cr_expect_eq(r.cached, 99, "%d threads: %d images resumed", threads, r.cached);
        expect_same(&r, &want, "partial cache");
        sb_eval_result_free(&r);
        sb_actcache_free(cache);
    }
    unsetenv("SB_MICROBATCH");
    sb_eval_result_free(&want);
    sb_model_free(mid);
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
