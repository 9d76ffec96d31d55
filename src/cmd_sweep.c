/* slimbench sweep: per-layer pruning sensitivity, as a table or Distiller's long CSV. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: slimbench sweep MODEL.onnx [--data DIR] [--method magnitude|l1]\n"
    "                       [--range START:STOP:STEP] [--limit N] [--csv]\n"
    "  Prunes each layer alone (for l1, its whole channel group) at each ratio of the range\n"
    "  (default 0:0.9:0.1, STOP included) and evaluates. --csv prints\n"
    "  parameter,sparsity,top1,top5,loss (Distiller's sensitivity format).\n";

static int parse_range(const char *s, double *ratios, int max, int *n)
{
    double a, b, step;
    char tail;
    if (sscanf(s, "%lf:%lf:%lf%c", &a, &b, &step, &tail) != 3 || step <= 0 || a < 0 || b >= 1 ||
        a > b) {
        fprintf(stderr, "slimbench: --range %s: expected START:STOP:STEP with 0 <= START <= "
                        "STOP < 1 and STEP > 0, e.g. 0:0.9:0.1\n", s);
        return EXIT_USER;
    }
    *n = 0;
    for (int i = 0; *n < max; i++) {
        double r = a + i * step;
        if (r > b + 1e-9)
            break;
        ratios[(*n)++] = round(r * 1e9) / 1e9;
    }
    return 0;
}

static bool show_progress(int done, int total, void *user)
{
    fprintf(stderr, "\rsweep: %d/%d", done, total);
    if (done == total)
        fputc('\n', stderr);
    return false;
}

static void print_points(const cli_opts *o, const sb_model *m, const sb_sweep_point *p, int n)
{
    if (o->csv)
        printf("parameter,sparsity,top1,top5,loss\n");
    else
        printf("%-40s %8s %8s %8s %8s\n", "layer", "ratio", "top1", "top5", "loss");
    for (int i = 0; i < n; i++) {
        sb_layer_info l;
        sb_model_layer(m, p[i].layer, &l);
        double t1 = p[i].images ? 100.0 * p[i].correct1 / p[i].images : 0;
        double t5 = p[i].images ? 100.0 * p[i].correct5 / p[i].images : 0;
        if (o->csv)
            printf("%s,%.4g,%.2f,%.2f,%.5f\n", l.weight_name, p[i].ratio, t1, t5, p[i].loss);
        else
            printf("%-40.40s %8.3g %7.2f%% %7.2f%% %8.4f\n", l.name, p[i].ratio, t1, t5,
                   p[i].loss);
    }
}

int cmd_sweep(int argc, char **argv)
{
    cli_opts o;
    sb_model *m = NULL;
    sb_dataset *d = NULL;
    sb_preprocess pp;
    double ratios[256];
    int n_ratios = 0;
    int rc = cli_parse(argc, argv, usage, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (o.method && strcmp(o.method, "magnitude") && strcmp(o.method, "l1")) {
        fprintf(stderr, "slimbench: --method %s: expected magnitude or l1\n", o.method);
        return EXIT_USER;
    }
    if ((rc = parse_range(o.range ? o.range : "0:0.9:0.1", ratios, 256, &n_ratios)) ||
        (rc = cli_load_model(&o, &m)) || (rc = cli_open_data(&o, m, &d, &pp))) {
        sb_model_free(m);
        return rc;
    }
    sb_sweep_options so = {
        .method = o.method && !strcmp(o.method, "l1") ? SB_PRUNE_L1 : SB_PRUNE_MAGNITUDE,
        .ratios = ratios, .n_ratios = n_ratios, .limit = o.limit,
        .progress = o.csv ? NULL : show_progress};
    int n = sb_sweep_count(m, &so);
    sb_sweep_point *pts = calloc((size_t)n + 1, sizeof *pts);
    sb_error err = {0};
    if (!pts || sb_sweep(m, d, &pp, &so, pts, &err))
        rc = cli_fail(&err);
    else
        print_points(&o, m, pts, n);
    free(pts);
    sb_dataset_free(d);
    sb_model_free(m);
    return rc;
}
