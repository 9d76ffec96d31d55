/* slimbench: see `slimbench --help`. */
#include "cli.h"

#include <signal.h>
#include <string.h>

static const char usage[] =
    "usage: slimbench [MODEL.onnx] [--data DIR]      open the workbench\n"
    "       slimbench inspect MODEL.onnx [--csv]     per-layer parameters, MACs, sparsity, L1\n"
    "       slimbench eval MODEL.onnx [--data DIR]   top-1/top-5 accuracy and throughput\n"
    "       slimbench bench MODEL.onnx               batch-1 latency and throughput\n"
    "       slimbench apply MODEL.onnx --prune/--quant/--config ...   compress, measure, export\n"
    "       slimbench sweep MODEL.onnx               per-layer pruning sensitivity\n"
    "       slimbench finetune MODEL.onnx --epochs E [--distill T,alpha] ...   win accuracy back\n"
    "\n"
    "Common options:\n"
    "  --data DIR        evaluation data: IDX (Fashion-MNIST style, .gz or plain) or .npy files\n"
    "                    (default for models trained on Fashion-MNIST: "
    "/usr/share/datasets/fashion-mnist)\n"
    "  --limit N         evaluate the first N images only\n"
    "  --scale S         divide raw pixel values by S (ToTensor: 255)\n"
    "  --mean M[,M..]    subtract the per-channel mean (after scaling)\n"
    "  --std S[,S..]     divide by the per-channel standard deviation\n"
    "                    (default: the model's metadata_props preprocess.scale/mean/std)\n"
    "  --batch B         evaluation batch size (default 64)\n"
    "  --threads N       OpenMP threads (default: all cores)\n"
    "  --csv             machine-readable CSV with a header row\n"
    "Exit status: 0 ok, 1 user error (with a message), 2 internal error.\n";

int main(int argc, char **argv)
{
    static const struct { const char *name; int (*run)(int, char **); } cmds[] = {
        {"inspect", cmd_inspect}, {"eval", cmd_eval},   {"bench", cmd_bench},
        {"apply", cmd_apply},     {"sweep", cmd_sweep},   {"finetune", cmd_finetune}};
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
                      !strcmp(argv[1], "help"))) {
        fputs(usage, stdout);
        return 0;
    }
    /* A file size limit (ulimit -f) must fail the write with EFBIG, reported like a full disk,
     * not kill the process with the work unsaved. */
    signal(SIGXFSZ, SIG_IGN);
    for (size_t i = 0; argc >= 2 && i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(argv[1], cmds[i].name) == 0)
            return cmds[i].run(argc - 1, argv + 1);
    if (argc >= 2 && argv[1][0] != '-' && !strstr(argv[1], ".onnx") && !strchr(argv[1], '/')) {
        fprintf(stderr, "slimbench: unknown command '%s'\n\n%s", argv[1], usage);
        return EXIT_USER;
    }
    return cmd_workbench(argc, argv);
}
