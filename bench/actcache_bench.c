/* Re-evaluation with the activation cache, as the workbench does it: a sequence of edits (each a
 * magnitude prune of one layer) evaluated with one cache, each against the same edit evaluated
 * without a cache. Prints one CSV line per edit: wall and CPU seconds with and without the cache,
 * the images resumed and the cut used. Not a test: for measurements (docs/workbench.md).
 *   build/bench_actcache MODEL [--data DIR] [--limit N] [--batch B] [--threads T]
 *                        [--seq EDITS] [--budget MB]
 * EDITS: comma-separated, each l (last layer), m (middle), f (first) or a layer index, with a
 * trailing + for ratio 0.55 instead of 0.5; default "l,l+,m,m+,l,m,f,f+". */
#include "compress.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct args {
    const char *model, *data, *seq;
    int limit, batch, threads;
    size_t budget;
} args;

static int parse(int argc, char **argv, args *a)
{
    *a = (args){.data = "/usr/share/datasets/fashion-mnist", .seq = "l,l+,m,m+,l,m,f,f+"};
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (argv[i][0] != '-' && !a->model)
            a->model = argv[i];
        else if (v && !strcmp(argv[i], "--data"))
            a->data = v, i++;
        else if (v && !strcmp(argv[i], "--seq"))
            a->seq = v, i++;
        else if (v && !strcmp(argv[i], "--limit"))
            a->limit = atoi(v), i++;
        else if (v && !strcmp(argv[i], "--batch"))
            a->batch = atoi(v), i++;
        else if (v && !strcmp(argv[i], "--threads"))
            a->threads = atoi(v), i++;
        else if (v && !strcmp(argv[i], "--budget"))
            a->budget = (size_t)atol(v) << 20, i++;
        else
            return fprintf(stderr, "bench_actcache: unknown argument %s\n", argv[i]), 1;
    }
    return a->model ? 0 : (fprintf(stderr, "usage: bench_actcache MODEL [options]\n"), 1);
}

static int layer_of(const sb_model *m, const char *e)
{
    int n = sb_model_num_layers(m);
    return e[0] == 'l' ? n - 1 : e[0] == 'm' ? n / 2 : e[0] == 'f' ? 0 : atoi(e);
}

static sb_model *edited(const sb_model *base, int layer, double ratio, sb_error *err)
{
    sb_config c;
    sb_model *cm = NULL;
    if (sb_config_new(base, &c, err))
        return NULL;
    c.layer[layer].prune = SB_PRUNE_MAGNITUDE;
    c.layer[layer].ratio = ratio;
    sb_compress(base, &c, NULL, true, &cm, err);
    sb_config_free(&c);
    return cm;
}

static int run(const args *a, sb_model *base, sb_dataset *d, const sb_preprocess *pp)
{
    sb_actcache *cache;
    sb_error err = {0};
    if (sb_actcache_new(base, a->budget, &cache, &err))
        return fprintf(stderr, "%s\n", err.msg), 1;
    printf("model,edit,layer,images,threads,batch,uncached_s,uncached_cpu_s,cached_s,cached_cpu_s,"
           "resumed,correct_equal,cut\n");
    char *seq = strdup(a->seq), *save = NULL;
    int rc = 0;
    for (char *e = strtok_r(seq, ",", &save); e && !rc; e = strtok_r(NULL, ",", &save)) {
        int layer = layer_of(base, e);
        sb_model *cm = edited(base, layer, strchr(e, '+') ? 0.55 : 0.5, &err);
        sb_eval_options o = {.limit = a->limit, .batch = a->batch};
        sb_eval_result u = {0}, c = {0};
        rc = !cm || sb_eval(cm, d, pp, &o, &u, &err);
        o.cache = cache;
        rc = rc || sb_eval(cm, d, pp, &o, &c, &err);
        if (rc)
            fprintf(stderr, "%s: %s\n", e, err.msg);
        else
            printf("%s,%s,%d,%d,%d,%d,%.4f,%.4f,%.4f,%.4f,%d,%d,%s\n", a->model, e, layer,
                   c.images, omp_get_max_threads(), a->batch, u.seconds, u.cpu_seconds,
                   c.seconds, c.cpu_seconds, c.cached,
                   u.correct1 == c.correct1 && u.loss == c.loss,
                   sb_actcache_get_info(cache).cut_node ? sb_actcache_get_info(cache).cut_node
                                                        : "-");
        fflush(stdout);
        sb_eval_result_free(&u), sb_eval_result_free(&c);
        sb_model_free(cm);
    }
    free(seq);
    sb_actcache_free(cache);
    return rc;
}

int main(int argc, char **argv)
{
    args a;
    if (parse(argc, argv, &a))
        return 2;
    if (a.threads > 0)
        omp_set_num_threads(a.threads);
    sb_model *base;
    sb_dataset *d;
    sb_preprocess pp;
    sb_error err = {0};
    if (sb_model_load(a.model, &base, &err) || sb_preprocess_from_model(base, &pp, &err) ||
        sb_dataset_open(a.data, "test", &d, &err))
        return fprintf(stderr, "%s\n", err.msg), 1;
    int rc = run(&a, base, d, &pp);
    sb_dataset_free(d);
    sb_model_free(base);
    return rc;
}
