/* Fuzzes tg_store_uri_mask, which reads store URIs and conninfo strings from
 * the command line and config files.
 *
 * Input: the URI (a NUL ends it early). The mask must stay within every
 * capacity, hide a URI's whole user-info, and be idempotent: masking a mask
 * changes nothing, so no password is left for a second pass to find.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "store/uri.h"
#include "trailguard/store.h"

#define URI_BYTES_MAX 2048                /* bytes of input read, NUL included */
#define SHOWN_MAX     (URI_BYTES_MAX * 4) /* room for any mask of such an input */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char uri[URI_BYTES_MAX], shown[SHOWN_MAX], again[SHOWN_MAX];
    size = size < sizeof uri - 1 ? size : sizeof uri - 1;
    memcpy(uri, data, size);
    uri[size] = '\0';
    static const size_t caps[] = {1, 2, 5, 17, 64};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        size_t n = tg_store_uri_mask(uri, shown, caps[i]);
        assert(n < caps[i] && shown[n] == '\0' && strlen(shown) == n);
    }
    size_t n = tg_store_uri_mask(uri, shown, sizeof shown);
    assert(n < sizeof shown - 1); /* never cut: the whole mask fits */
    size_t begin = 0, end = 0;
    if (tg_uri_userinfo(uri, &begin, &end)) {
        assert(strncmp(shown, uri, begin) == 0 && strncmp(shown + begin, "***@", 4) == 0);
    }
    tg_store_uri_mask(shown, again, sizeof again);
    assert(strcmp(shown, again) == 0);
    return 0;
}
