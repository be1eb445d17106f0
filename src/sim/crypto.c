/* The emulator's own signature checks (HMAC-SHA256, hex) and the WebSocket
 * handshake key: OpenSSL gives the primitives, the canonical strings are
 * built by the venue files from the raw bytes received. */
#define _POSIX_C_SOURCE 200809L /* pthread types through uv.h, strcasecmp */

#include <assert.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "sim/sim_int.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" /* RFC 6455 section 1.3 */

void sim_hmac_hex(const char *secret, const char *msg, size_t msg_len, char out[SIM_HEX_SHA256]) {
    assert(secret != NULL && out != NULL);
    assert(msg != NULL || msg_len == 0);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    unsigned char *r =
        HMAC(EVP_sha256(), secret, (int)strlen(secret),
             (const unsigned char *)(msg != NULL ? msg : ""), msg_len, mac, &mac_len);
    assert(r != NULL && mac_len == 32);
    static const char hex[] = "0123456789abcdef";
    for (unsigned int i = 0; i < mac_len; i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 15];
    }
    out[64] = '\0';
}

static char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool sim_hmac_verify(const char *secret, const char *msg, size_t msg_len, const char *sig_hex) {
    assert(secret != NULL);
    if (sig_hex == NULL || strlen(sig_hex) != 64) {
        return false;
    }
    char want[SIM_HEX_SHA256];
    sim_hmac_hex(secret, msg, msg_len, want);
    unsigned diff = 0;
    for (size_t i = 0; i < 64; i++) {
        diff |= (unsigned)(want[i] ^ lower(sig_hex[i]));
    }
    return diff == 0;
}

bool sim_ws_accept_key(const char *client_key, char out[32]) {
    assert(out != NULL);
    /* RFC 6455 4.2.1: the key is 16 random bytes in base64, 24 characters */
    if (client_key == NULL || strlen(client_key) != 24 || strcmp(client_key + 22, "==") != 0) {
        return false;
    }
    unsigned char raw[18];
    if (EVP_DecodeBlock(raw, (const unsigned char *)client_key, 24) != 18) {
        return false; /* a character outside base64 */
    }
    char joined[160];
    size_t n = strlen(client_key);
    memcpy(joined, client_key, n);
    memcpy(joined + n, WS_GUID, sizeof WS_GUID);
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)joined, strlen(joined), digest);
    int len = EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH);
    assert(len == 28);
    out[len] = '\0';
    return true;
}
