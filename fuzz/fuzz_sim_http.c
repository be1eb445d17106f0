/* Fuzzes the emulator's byte parsers — HTTP/1.1 requests, query strings and
 * form bodies, WebSocket frame headers — the code that reads whatever a
 * client sends to the loopback ports. Anything accepted must be within its
 * bounds; nothing may crash or read past the input. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_request(const sim_http_req *req, size_t consumed, size_t size) {
    assert(consumed <= size);
    assert(req->method[0] != '\0' && strlen(req->method) < SIM_METHOD_MAX);
    assert(req->path[0] == '/' && strlen(req->path) < SIM_PATH_MAX);
    assert(strlen(req->query) < SIM_QUERY_MAX);
    assert(req->header_count <= SIM_HEADERS_MAX);
    assert(req->body_len <= SIM_BODY_MAX);
    for (size_t i = 0; i < req->header_count; i++) {
        assert(strlen(req->hname[i]) < SIM_HNAME_MAX && strlen(req->hvalue[i]) < SIM_HVALUE_MAX);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static sim_http_req req;
    static sim_params params;
    size_t consumed = 0;
    /* the parser is given exactly size bytes, in a buffer of exactly that size */
    char *copy = malloc(size == 0 ? 1 : size);
    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data, size);
    if (sim_http_parse(copy, size, &req, &consumed) == SIM_PARSE_DONE) {
        check_request(&req, consumed, size);
        memset(&params, 0, sizeof params);
        if (sim_params_parse(req.query, strlen(req.query), &params)) {
            assert(params.count <= SIM_PARAMS_MAX);
        }
        if (sim_params_parse(req.body, req.body_len, &params)) {
            assert(params.count <= SIM_PARAMS_MAX);
        }
    }
    memset(&params, 0, sizeof params);
    (void)sim_params_parse(copy, size, &params);
    sim_ws_frame f;
    if (sim_ws_frame_parse((const uint8_t *)copy, size, 65536, &f) == SIM_PARSE_DONE) {
        assert(f.header_len + f.payload_len <= size);
        sim_ws_unmask((uint8_t *)copy + f.header_len, (size_t)f.payload_len, f.mask);
    }
    free(copy);
    return 0;
}
