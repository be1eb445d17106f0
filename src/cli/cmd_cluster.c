/* trailguard cluster status — every account's lease in the shared store. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "trailguard/config.h"

static const char cluster_usage[] =
    "usage: trailguard cluster status --config FILE\n"
    "\n"
    "Lists every lease of the PostgreSQL store that FILE's [store] names, one\n"
    "line per account: account, owner (node id), fencing token, expiry and last\n"
    "renewal, as the database server's clock sees them. Reads only. Exits 0, or\n"
    "2 with a sentence when FILE has no [cluster] section or the store has no\n"
    "leases.\n";

typedef struct status_ctx {
    int rows; /* leases printed */
} status_ctx;

static void print_age(char *buf, size_t cap, int64_t ms) {
    int64_t abs_ms = ms < 0 ? -ms : ms;
    snprintf(buf, cap, "%s%" PRId64 ".%" PRId64 "s", ms < 0 ? "-" : "", abs_ms / 1000,
             (abs_ms % 1000) / 100);
}

static bool print_lease(void *ctx, const tg_store_lease *l) {
    status_ctx *sc = ctx;
    if (l->account[0] == '~') { /* a process's presence row, not an account */
        return true;
    }
    char account[TG_STORE_KEY_MAX * 6], owner[TG_STORE_KEY_MAX * 6];
    tg_store_escape(l->account, account, sizeof account);
    tg_store_escape(l->owner[0] != '\0' ? l->owner : "-", owner, sizeof owner);
    char expiry[32], renew[32];
    bool live = l->expires_ms > l->now_ms && l->owner[0] != '\0';
    print_age(expiry, sizeof expiry, l->expires_ms - l->now_ms);
    if (l->last_renew_ms > 0) {
        print_age(renew, sizeof renew, l->now_ms - l->last_renew_ms);
    } else {
        snprintf(renew, sizeof renew, "never");
    }
    printf("%-24s %-24s %8" PRId64 " %-8s %12s %12s\n", account, owner, l->token,
           live ? "held" : "free", live ? expiry : "-", renew);
    sc->rows++;
    return true;
}

static int cluster_status(const char *path) {
    tg_config *cfg = NULL;
    tg_err err;
    if (tg_config_load(path, &cfg, &err) != TG_OK) {
        tg_cli_error("%s", err.msg);
        return TG_EXIT_USAGE;
    }
    if (!cfg->cluster.enabled) {
        tg_cli_error("%s has no [cluster] section: its accounts are not leased", path);
        tg_config_free(cfg);
        return TG_EXIT_USAGE;
    }
    tg_store *store = NULL;
    tg_status st = tg_store_open_readonly(cfg->store_uri, cfg->accounts[0].name, &store, &err);
    status_ctx sc = {0};
    if (st == TG_OK) {
        printf("%-24s %-24s %8s %-8s %12s %12s\n", "ACCOUNT", "OWNER", "TOKEN", "STATE",
               "EXPIRES_IN", "RENEWED_AGO");
        st = tg_store_leases_list(store, print_lease, &sc, &err);
    }
    tg_store_close(store);
    tg_config_free(cfg);
    if (st != TG_OK) {
        tg_cli_error("%s", err.msg);
        return st == TG_E_UNAVAILABLE || st == TG_E_IO ? TG_EXIT_FAILURE : TG_EXIT_USAGE;
    }
    if (sc.rows == 0) {
        printf("(no leases yet: no `trailguard run` with [cluster] has started)\n");
    }
    return fflush(stdout) == 0 ? TG_EXIT_OK : TG_EXIT_FAILURE;
}

int tg_cli_cluster(int argc, char **argv) {
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(cluster_usage, stdout);
        return TG_EXIT_OK;
    }
    const char *path = NULL;
    if (argc == 4 && strcmp(argv[1], "status") == 0 && strcmp(argv[2], "--config") == 0) {
        path = argv[3];
    } else if (argc == 3 && strcmp(argv[1], "status") == 0 &&
               strncmp(argv[2], "--config=", 9) == 0) {
        path = argv[2] + 9;
    }
    if (path == NULL || path[0] == '\0') {
        fputs(cluster_usage, stderr);
        return TG_EXIT_USAGE;
    }
    return cluster_status(path);
}
