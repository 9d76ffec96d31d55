/* Command-line options of the workbench (`slimbench [MODEL.onnx] [--data DIR] ...`). */
#ifndef UI_ARGS_H
#define UI_ARGS_H

#include <stdbool.h>

#define UI_DEFAULT_MODEL "sample_models/resnet8.onnx"

typedef struct ui_args {
    const char *model; /* UI_DEFAULT_MODEL when none is given */
    const char *data;  /* NULL: from the model's metadata */
    int threads;       /* 0: OpenMP's default */
    bool demo;         /* start in the workshop view */
    bool fresh;        /* ignore the autosaved session */
} ui_args;

extern const char ui_args_usage[];

/* Returns 0, -1 after printing --help, or an exit code after printing a usage error. */
int ui_args_parse(int argc, char **argv, ui_args *a);

#endif
