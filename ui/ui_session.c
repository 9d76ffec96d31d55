#include "ui_session.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

bool ui_session_path(const char *model_path, char *buf, size_t n)
{
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    char dir[PATH_MAX], abs[PATH_MAX];
    if (xdg && xdg[0] == '/') /* the spec ignores relative values */
        snprintf(dir, sizeof dir, "%s/slimbench", xdg);
    else if (home && home[0])
        snprintf(dir, sizeof dir, "%s/.local/state/slimbench", home);
    else
        return false;
    const char *key = realpath(model_path, abs) ? abs : model_path;
    const char *base = strrchr(model_path, '/');
    base = base ? base + 1 : model_path;
    int len = snprintf(buf, n, "%s/%016llx-%s.config.csv", dir, (unsigned long long)fnv1a(key),
                       base);
    return len > 0 && (size_t)len < n;
}

sb_status ui_session_prepare(const char *path, sb_error *err)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return SB_OK;
    *slash = 0;
    for (char *p = dir + 1;; p++) { /* mkdir -p */
        bool end = *p == 0;
        if (*p == '/' || end) {
            *p = 0;
            if (mkdir(dir, 0700) != 0 && errno != EEXIST)
                return sb_error_set(err, SB_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
            if (!end)
                *p = '/';
        }
        if (end)
            break;
    }
    return SB_OK;
}
