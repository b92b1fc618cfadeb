/* RSA public keys that must not be trusted whatever signed with them. */
#ifndef EXTID_WEAKKEY_H
#define EXTID_WEAKKEY_H

#include <stdbool.h>
#include <openssl/bn.h>

/* True when the modulus carries the fingerprint of the flawed prime generator known as ROCA
 * (CVE-2017-15361): such keys can be factored from the public key alone. */
bool extid_rsa_modulus_is_weak(const BIGNUM *n);

#endif
