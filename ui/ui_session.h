/* The autosaved session: the Config of the last run on a model, rewritten (atomically) after
 * every edit to $XDG_STATE_HOME/slimbench/ (default ~/.local/state/slimbench/) under a name made
 * from a hash of the model's absolute path and its file name, so a crashed or killed workbench
 * reopens where it was. No curses, no threads. */
#ifndef UI_SESSION_H
#define UI_SESSION_H

#include "slimbench.h"

#include <stdbool.h>
#include <stddef.h>

/* "<state dir>/slimbench/<16 hex digits>-<model file name>.config.csv"; false when neither
 * XDG_STATE_HOME (absolute) nor HOME is set. */
bool ui_session_path(const char *model_path, char *buf, size_t n);
/* Creates the directory of path (and its parents, mode 0700) if needed. */
sb_status ui_session_prepare(const char *path, sb_error *err);

#endif
