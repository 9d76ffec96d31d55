/* slimbench inspect: the per-layer table. */
#include "cli.h"

#include <string.h>

static const char usage[] = "usage: slimbench inspect MODEL.onnx [--csv]\n";

static double sparsity(const sb_layer_info *l)
{
    int64_t weights = l->params; /* zeros are counted over weights; the bias is a small share */
    return weights ? 100.0 * (double)l->zeros / (double)weights : 0.0;
}

static void print_csv(const sb_model *m)
{
    printf("layer,op,node,weight,out_shape,params,macs,sparsity,out_channels,l1_min,l1_median,"
           "l1_max,bn\n");
    for (int i = 0; i < sb_model_num_layers(m); i++) {
        sb_layer_info l;
        char shape[96];
        sb_model_layer(m, i, &l);
        printf("%s,%s,%s,%s,%s,%lld,%lld,%.2f,%lld,%.6g,%.6g,%.6g,%s\n", l.name, l.op,
               l.node_name, l.weight_name, sb_shape_str(&l.out_shape, shape, sizeof shape),
               (long long)l.params, (long long)l.macs, sparsity(&l), (long long)l.out_channels,
               l.l1_min, l.l1_median, l.l1_max, l.bn_name ? l.bn_name : "");
    }
}

static int name_width(const sb_model *m)
{
    int w = 5;
    for (int i = 0; i < sb_model_num_layers(m); i++) {
        sb_layer_info l;
        sb_model_layer(m, i, &l);
        int n = (int)strlen(l.name);
        w = n > w ? n : w;
    }
    return w > 48 ? 48 : w;
}

static void print_table(const sb_model *m)
{
    sb_model_totals t = sb_model_totals_get(m);
    int w = name_width(m);
    printf("%s\n", sb_model_path(m));
    printf("%3s  %-*s %-10s %-14s %10s %10s %6s %6s  %-26s %s\n", "#", w, "layer", "op",
           "output", "params", "MACs", "%MACs", "zero%", "channel L1 min/med/max", "BN");
    for (int i = 0; i < sb_model_num_layers(m); i++) {
        sb_layer_info l;
        char shape[96], l1[64];
        sb_model_layer(m, i, &l);
        snprintf(l1, sizeof l1, "%.3g/%.3g/%.3g", l.l1_min, l.l1_median, l.l1_max);
        printf("%3d  %-*.*s %-10s %-14s ", i, w, w, l.name, l.op,
               sb_shape_str(&l.out_shape, shape, sizeof shape));
        cli_print_human_count(stdout, l.params, 10);
        putchar(' ');
        cli_print_human_count(stdout, l.macs, 10);
        printf(" %6.1f %6.1f  %-26s %s\n", t.macs ? 100.0 * (double)l.macs / (double)t.macs : 0,
               sparsity(&l), l1, l.bn_name ? l.bn_name : "");
    }
    printf("%3s  %-*s %-10s %-14s ", "", w, "total", "", "");
    cli_print_human_count(stdout, t.params, 10);
    putchar(' ');
    cli_print_human_count(stdout, t.macs, 10);
    printf(" %6.1f %6.1f\n", 100.0, t.params ? 100.0 * (double)t.zeros / (double)t.params : 0);
    printf("\n%d layers; %lld parameters in Conv/Gemm layers (%lld in all, BatchNorm included); "
           "%lld MACs per image\n",
           sb_model_num_layers(m), (long long)t.params, (long long)t.all_params,
           (long long)t.macs);
}

int cmd_inspect(int argc, char **argv)
{
    cli_opts o;
    sb_model *m;
    int rc = cli_parse(argc, argv, usage, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    if ((rc = cli_load_model(&o, &m)))
        return rc;
    if (o.csv)
        print_csv(m);
    else
        print_table(m);
    sb_model_free(m);
    return 0;
}
