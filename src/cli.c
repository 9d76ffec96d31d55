#include "cli.h"

#include <getopt.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_FASHION_DIR "/usr/share/datasets/fashion-mnist"

int cli_fail(const sb_error *err)
{
    fprintf(stderr, "slimbench: %s\n", err->msg[0] ? err->msg : sb_status_str(err->status));
    return err->status == SB_ERR_INTERNAL || err->status == SB_ERR_NOMEM ? EXIT_INTERNAL
                                                                          : EXIT_USER;
}

static int bad_usage(const char *usage, const char *what, const char *arg)
{
    fprintf(stderr, "slimbench: %s%s%s\n%s", what, arg ? arg : "", arg ? "'" : "", usage);
    return EXIT_USER;
}

static bool parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

int cli_parse(int argc, char **argv, const char *usage, cli_opts *o)
{
    enum { O_DATA = 256, O_SCALE, O_MEAN, O_STD, O_LIMIT, O_BATCH, O_THREADS, O_CSV, O_SECS,
           O_CONFIG, O_PRUNE, O_QUANT, O_REPORT, O_EXPORT, O_SAVE, O_METHOD, O_RANGE, O_MASK,
           O_LAYERS, O_LATONLY };
    static const struct option longs[] = {
        {"data", required_argument, 0, O_DATA},       {"scale", required_argument, 0, O_SCALE},
        {"mean", required_argument, 0, O_MEAN},       {"std", required_argument, 0, O_STD},
        {"limit", required_argument, 0, O_LIMIT},     {"batch", required_argument, 0, O_BATCH},
        {"threads", required_argument, 0, O_THREADS}, {"csv", no_argument, 0, O_CSV},
        {"seconds", required_argument, 0, O_SECS},    {"help", no_argument, 0, 'h'},
        {"config", required_argument, 0, O_CONFIG},   {"prune", required_argument, 0, O_PRUNE},
        {"quant", required_argument, 0, O_QUANT},     {"report", required_argument, 0, O_REPORT},
        {"export", required_argument, 0, O_EXPORT},   {"save-config", required_argument, 0, O_SAVE},
        {"method", required_argument, 0, O_METHOD},   {"range", required_argument, 0, O_RANGE},
        {"mask", no_argument, 0, O_MASK},             {"layers", no_argument, 0, O_LAYERS},
        {"latency-only", no_argument, 0, O_LATONLY},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->seconds = 2.0;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case O_DATA: o->data_dir = optarg; break;
        case O_SCALE: o->scale = optarg; break;
        case O_MEAN: o->mean = optarg; break;
        case O_STD: o->std = optarg; break;
        case O_CSV: o->csv = true; break;
        case O_LAYERS: o->layers = true; break;
        case O_CONFIG: o->config_path = optarg; break;
        case O_REPORT: o->report = optarg; break;
        case O_EXPORT: o->export_path = optarg; break;
        case O_SAVE: o->save_config = optarg; break;
        case O_METHOD: o->method = optarg; break;
        case O_RANGE: o->range = optarg; break;
        case O_MASK: o->mask = true; break;
        case O_LATONLY: o->latency_only = true; break;
        case O_PRUNE:
        case O_QUANT: {
            int *n = c == O_PRUNE ? &o->n_prune : &o->n_quant;
            if (*n == 64)
                return bad_usage(usage, "too many --prune/--quant flags (64 at most)", NULL);
            (c == O_PRUNE ? o->prune : o->quant)[(*n)++] = optarg;
            break;
        }
        case O_LIMIT:
            if (!parse_int(optarg, 1, 1 << 30, &o->limit))
                return bad_usage(usage, "--limit wants a positive number, not '", optarg);
            break;
        case O_BATCH:
            if (!parse_int(optarg, 1, 65536, &o->batch))
                return bad_usage(usage, "--batch wants a number from 1 to 65536, not '", optarg);
            break;
        case O_THREADS:
            if (!parse_int(optarg, 1, 1024, &o->threads))
                return bad_usage(usage, "--threads wants a positive number, not '", optarg);
            omp_set_num_threads(o->threads);
            break;
        case O_SECS: {
            char *end;
            o->seconds = strtod(optarg, &end);
            if (*end || !(o->seconds > 0 && o->seconds <= 3600))
                return bad_usage(usage, "--seconds wants a duration in seconds, not '", optarg);
            break;
        }
        case 'h':
            fputs(usage, stdout);
            return -1;
        default:
            return bad_usage(usage, "unknown or incomplete option '", argv[optind - 1]);
        }
    }
    if (optind < argc)
        o->model_path = argv[optind++];
    if (optind < argc)
        return bad_usage(usage, "unexpected argument '", argv[optind]);
    if (!o->model_path)
        return bad_usage(usage, "no model given", NULL);
    return 0;
}

int cli_load_model(const cli_opts *o, sb_model **m)
{
    sb_error err = {0};
    if (sb_model_load(o->model_path, m, &err))
        return cli_fail(&err);
    return 0;
}

static sb_status override_list(const char *s, const char *flag, float *vals, int *n,
                               sb_error *err)
{
    sb_status st = sb_parse_float_list(s, vals, 4, n, err);
    if (st)
        sb_error_prefix(err, "%s: ", flag);
    return st;
}

static sb_status apply_overrides(const cli_opts *o, sb_preprocess *pp, sb_error *err)
{
    sb_status s = SB_OK;
    if (o->scale) {
        int n;
        if (!(s = override_list(o->scale, "--scale", &pp->scale, &n, err)) &&
            (n != 1 || pp->scale == 0))
            s = sb_error_set(err, SB_ERR_ARG, "--scale wants one non-zero number, not '%s'",
                             o->scale);
    }
    if (!s && o->mean)
        s = override_list(o->mean, "--mean", pp->mean, &pp->n_mean, err);
    if (!s && o->std) {
        s = override_list(o->std, "--std", pp->std, &pp->n_std, err);
        for (int i = 0; !s && i < pp->n_std; i++)
            if (pp->std[i] == 0)
                s = sb_error_set(err, SB_ERR_ARG, "--std: values must be non-zero");
    }
    return s;
}

static const char *default_data_dir(const cli_opts *o, const sb_model *m)
{
    if (o->data_dir)
        return o->data_dir;
    const char *ds = sb_model_meta(m, "dataset");
    return ds && strcmp(ds, "fashion-mnist") == 0 ? DEFAULT_FASHION_DIR : NULL;
}

int cli_open_data(const cli_opts *o, const sb_model *m, sb_dataset **d, sb_preprocess *pp)
{
    sb_error err = {0};
    const char *dir = default_data_dir(o, m);
    if (!dir) {
        fprintf(stderr, "slimbench: no evaluation data: give --data DIR (the model's metadata "
                        "does not name a known dataset)\n");
        return EXIT_USER;
    }
    if (sb_preprocess_from_model(m, pp, &err) || apply_overrides(o, pp, &err) ||
        sb_dataset_open_streamed(dir, "test", SB_DATASET_RESIDENT_MAX, d, &err))
        return cli_fail(&err);
    return 0;
}

void cli_print_human_count(FILE *f, int64_t n, int width)
{
    char buf[32];
    if (n >= 10000000000LL)
        snprintf(buf, sizeof buf, "%.2fG", n / 1e9);
    else if (n >= 10000000)
        snprintf(buf, sizeof buf, "%.2fM", n / 1e6);
    else if (n >= 100000)
        snprintf(buf, sizeof buf, "%.1fk", n / 1e3);
    else
        snprintf(buf, sizeof buf, "%lld", (long long)n);
    fprintf(f, "%*s", width, buf);
}

bool cli_has_compression(const cli_opts *o)
{
    return o->config_path || o->n_prune || o->n_quant;
}

int cli_build_config(const cli_opts *o, const sb_model *m, sb_config *c)
{
    sb_error err = {0};
    sb_status s = o->config_path ? sb_config_load_csv(m, o->config_path, c, &err)
                                 : sb_config_new(m, c, &err);
    for (int i = 0; !s && i < o->n_prune; i++)
        s = sb_config_apply_prune_flag(m, c, o->prune[i], &err);
    for (int i = 0; !s && i < o->n_quant; i++)
        s = sb_config_apply_quant_flag(m, c, o->quant[i], &err);
    if (!s)
        s = sb_config_validate(m, c, &err);
    if (s) {
        sb_config_free(c);
        return cli_fail(&err);
    }
    return 0;
}

static bool needs_calibration(const sb_config *c)
{
    for (int i = 0; i < c->n_layers; i++)
        if (c->layer[i].act8)
            return true;
    return false;
}

int cli_compress(const cli_opts *o, const sb_model *m, const sb_config *c, sb_model **out)
{
    sb_error err = {0};
    sb_dataset *train = NULL;
    sb_preprocess pp;
    sb_calib_data calib = {0};
    if (needs_calibration(c)) {
        const char *dir = default_data_dir(o, m);
        if (!dir) {
            fprintf(stderr, "slimbench: activation quantisation (a8) calibrates on the training "
                            "split: give --data DIR\n");
            return EXIT_USER;
        }
        if (sb_preprocess_from_model(m, &pp, &err) || apply_overrides(o, &pp, &err) ||
            sb_dataset_open(dir, "train", &train, &err))
            return cli_fail(&err);
        calib = (sb_calib_data){.data = train, .pp = &pp};
    }
    sb_status s = sb_compress(m, c, &calib, !o->mask, out, &err);
    sb_dataset_free(train);
    return s ? cli_fail(&err) : 0;
}
