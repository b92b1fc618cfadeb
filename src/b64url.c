/* base64url decoding and encoding by table, refusing padding, foreign characters, impossible
 * lengths and non-zero trailing bits, so that each value has exactly one encoding. */
#include "b64url.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "util.h"

/* Index of c in the base64url alphabet, or -1. */
static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

bool extid_b64url_decode(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
    size_t rem = len % 4;
    size_t padded_len, want;
    char *std = NULL;
    unsigned char *buf = NULL;
    int got;
    bool ok = false;

    if (!out || !outlen || (!in && len > 0))
        return false;
    *out = NULL;
    *outlen = 0;
    /* One leftover character carries only 6 bits: no byte can end there. EVP_DecodeBlock takes
     * an int length, hence the upper bound. */
    if (rem == 1 || len > (size_t)INT_MAX - 4)
        return false;
    for (size_t i = 0; i < len; i++)
        if (b64url_value((unsigned char)in[i]) < 0)
            return false;
    /* Canonical form only: the bits below the last whole byte must be zero, so that every
     * byte string has exactly one encoding. */
    if (rem == 2 && (b64url_value((unsigned char)in[len - 1]) & 0x0f) != 0)
        return false;
    if (rem == 3 && (b64url_value((unsigned char)in[len - 1]) & 0x03) != 0)
        return false;

    want = len / 4 * 3 + (rem == 2 ? 1 : rem == 3 ? 2 : 0);
    padded_len = len + (rem ? 4 - rem : 0);
    std = malloc(padded_len + 1);
    /* EVP_DecodeBlock writes whole groups of three, padding included, plus room for our NUL. */
    buf = malloc(padded_len / 4 * 3 + 1);
    if (!std || !buf)
        goto out;
    for (size_t i = 0; i < len; i++)
        std[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
    memset(std + len, '=', padded_len - len);
    std[padded_len] = '\0';

    if (padded_len > 0) {
        /* The result counts the bytes that stand for '=' too; we already know the true size. */
        got = EVP_DecodeBlock(buf, (const unsigned char *)std, (int)padded_len);
        if (got < 0 || (size_t)got != padded_len / 4 * 3)
            goto out;
    }
    buf[want] = '\0';
    *out = buf;
    *outlen = want;
    buf = NULL;
    ok = true;
out:
    /* The input may be part of a token. */
    extid_free_secret_n(std, std ? padded_len + 1 : 0);
    extid_free_secret_n(buf, buf ? padded_len / 4 * 3 + 1 : 0);
    return ok;
}

bool extid_b64url_encode(const unsigned char *in, size_t len, char **out)
{
    size_t groups, cap, n = 0;
    char *buf;
    int got;

    if (!out || (!in && len > 0))
        return false;
    *out = NULL;
    if (len > (size_t)INT_MAX / 4 * 3 - 3)
        return false;
    groups = (len + 2) / 3;
    cap = groups * 4 + 1;
    buf = malloc(cap);
    if (!buf)
        return false;
    got = len > 0 ? EVP_EncodeBlock((unsigned char *)buf, in, (int)len) : 0;
    if (got < 0 || (size_t)got != groups * 4) {
        extid_free_secret_n(buf, cap);
        return false;
    }
    /* Translate to the URL alphabet and drop the padding. */
    for (size_t i = 0; i < (size_t)got; i++) {
        if (buf[i] == '=')
            break;
        buf[n++] = buf[i] == '+' ? '-' : buf[i] == '/' ? '_' : buf[i];
    }
    buf[n] = '\0';
    *out = buf;
    return true;
}
