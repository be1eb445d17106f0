/* Opening the store from the command line. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "trailguard/store.h"

/* The file a SQLite URI names, or NULL for another backend. */
static const char *sqlite_file(const char *uri) {
    if (strstr(uri, "://") != NULL) {
        return NULL;
    }
    return strncmp(uri, "sqlite:", 7) == 0 ? uri + 7 : uri;
}

tg_status tg_cli_store_open(const char *uri, const char *account, bool create, tg_store **out,
                            tg_err *err) {
    const char *file = sqlite_file(uri);
    struct stat sb;
    if (!create && file != NULL && stat(file, &sb) != 0) {
        return tg_err_set(err, TG_E_INVALID, "no store at %s (%s); give one with --store URI", file,
                          strerror(errno));
    }
    return tg_store_open(uri, account, out, err);
}
