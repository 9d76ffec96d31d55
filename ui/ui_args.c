#include "ui_args.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char ui_args_usage[] =
    "usage: slimbench [MODEL.onnx] [--data DIR] [--threads N] [--demo] [--fresh]\n"
    "  MODEL.onnx    the model to open (default " UI_DEFAULT_MODEL ")\n"
    "  --data DIR    evaluation data (default: from the model's metadata, e.g.\n"
    "                /usr/share/datasets/fashion-mnist for Fashion-MNIST models)\n"
    "  --threads N   OpenMP threads for evaluation and latency (default: all cores)\n"
    "  --demo        start in the workshop view: large before/after numbers (key D)\n"
    "  --fresh       start from the model as it is, ignoring the autosaved session\n"
    "                ($XDG_STATE_HOME/slimbench, default ~/.local/state/slimbench)\n";

static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "slimbench: %s%s%s\n%s", what, arg ? arg : "", arg ? "'" : "", ui_args_usage);
    return 1;
}

int ui_args_parse(int argc, char **argv, ui_args *a)
{
    enum { O_DATA = 256, O_THREADS, O_DEMO, O_FRESH };
    static const struct option longs[] = {{"data", required_argument, 0, O_DATA},
                                          {"threads", required_argument, 0, O_THREADS},
                                          {"demo", no_argument, 0, O_DEMO},
                                          {"fresh", no_argument, 0, O_FRESH},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    *a = (ui_args){.model = UI_DEFAULT_MODEL};
    optind = 0; /* glibc: 0 also resets its internal state between parses */
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
        char *end;
        switch (c) {
        case O_DATA: a->data = optarg; break;
        case O_DEMO: a->demo = true; break;
        case O_FRESH: a->fresh = true; break;
        case O_THREADS: {
            long v = strtol(optarg, &end, 10);
            if (!*optarg || *end || v < 1 || v > 1024)
                return usage_error("--threads wants a number from 1 to 1024, not '", optarg);
            a->threads = (int)v;
            break;
        }
        case 'h': fputs(ui_args_usage, stdout); return -1;
        case ':': return usage_error("option needs a value: '", argv[optind - 1]);
        default: return usage_error("unknown option '", argv[optind - 1]);
        }
    }
    if (optind < argc)
        a->model = argv[optind++];
    if (optind < argc)
        return usage_error("unexpected argument '", argv[optind]);
    return 0;
}
