/* trailguard check-config — load a configuration file and say what is wrong. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "trailguard/config.h"

static const char check_usage[] =
    "usage: trailguard check-config FILE\n"
    "\n"
    "Loads FILE as `trailguard run` would: every section and key, the API keys\n"
    "and secrets it names (environment variables, 0600 files) and every\n"
    "symbol's parameter set. Prints \"FILE: ok (N accounts, M symbols)\" and\n"
    "exits 0, or prints every error with its line to stderr and exits 2.\n"
    "Secrets are never printed.\n";

int tg_cli_check_config(int argc, char **argv) {
    assert(argc >= 1 && argv != NULL && argv[argc] == NULL);
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(check_usage, stdout);
        return TG_EXIT_OK;
    }
    if (argc != 2 || argv[1][0] == '-') {
        fputs(check_usage, stderr);
        return TG_EXIT_USAGE;
    }
    const char *path = argv[1];
    tg_config_errors *errors = malloc(sizeof *errors);
    if (errors == NULL) {
        tg_cli_error("out of memory");
        return TG_EXIT_FAILURE;
    }
    tg_config *cfg = NULL;
    tg_status st = tg_config_load_all(path, NULL, &cfg, errors);
    int rc = TG_EXIT_OK;
    if (st == TG_OK) {
        assert(cfg != NULL);
        printf("%s: ok (%zu accounts, %zu symbols)\n", path, cfg->accounts_count,
               cfg->symbols_count);
        tg_config_free(cfg);
    } else {
        assert(cfg == NULL);
        assert(errors->count <= TG_CONFIG_ERRORS_MAX);
        for (size_t i = 0; i < errors->count; i++) {
            tg_cli_error("%s", errors->items[i].msg);
        }
        if (errors->dropped > 0) {
            tg_cli_error("%s: and %zu more errors", path, errors->dropped);
        }
        rc = st == TG_E_NOMEM ? TG_EXIT_FAILURE : TG_EXIT_USAGE;
    }
    free(errors);
    if (fflush(stdout) != 0) {
        return TG_EXIT_FAILURE;
    }
    return rc;
}
