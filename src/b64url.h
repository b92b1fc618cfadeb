/* base64url without padding (RFC 7515 §2), as used by JWS and JWK. */
#ifndef EXTID_B64URL_H
#define EXTID_B64URL_H

#include <stdbool.h>
#include <stddef.h>

/* Decodes len bytes of base64url (no padding accepted, no whitespace, strict alphabet).
 * *out is malloc'd with a trailing NUL not counted in *outlen. false on malformed input or OOM. */
bool extid_b64url_decode(const char *in, size_t len, unsigned char **out, size_t *outlen);

/* Encodes; *out malloc'd and NUL-terminated. */
bool extid_b64url_encode(const unsigned char *in, size_t len, char **out);

#endif
