#include "weakkey.h"

/* The flawed generator builds each prime as k*M + (65537^a mod M), M the product of the first
 * small primes (the first 71 for every key size from 992 bits up, so for every key the module
 * accepts). Modulo any of those primes, the modulus then lies in the subgroup that 65537
 * generates. A sound modulus lies in all of these subgroups for the odd primes up to 353 with
 * probability about 2^-83: no false alarms in practice. */
#define LAST_PRIME 353u
#define GENERATOR 65537u

static bool is_prime(unsigned int p)
{
    for (unsigned int d = 2; d * d <= p; d++)
        if (p % d == 0)
            return false;
    return p > 1;
}

/* Whether residue is a power of 65537 modulo the prime p. */
static bool in_subgroup(unsigned int residue, unsigned int p)
{
    unsigned int g = GENERATOR % p, x = 1;

    do {
        if (x == residue)
            return true;
        x = (x * g) % p;
    } while (x != 1);
    return false;
}

bool extid_rsa_modulus_is_weak(const BIGNUM *n)
{
    for (unsigned int p = 3; p <= LAST_PRIME; p += 2) {
        BN_ULONG r;

        if (!is_prime(p))
            continue;
        r = BN_mod_word(n, p);
        /* (BN_ULONG)-1 is BN_mod_word's error value; it is never a residue below p. */
        if (r == (BN_ULONG)-1 || !in_subgroup((unsigned int)r, p))
            return false;
    }
    return true;
}
