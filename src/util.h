/* Small helpers shared by the core. */
#ifndef EXTID_UTIL_H
#define EXTID_UTIL_H

#include <stdbool.h>
#include <stddef.h>

/* explicit_bzero + free; NULL-safe. */
void extid_free_secret(char *s);
/* Same for a buffer of known length. */
void extid_free_secret_n(void *p, size_t n);

/* Copy of s with every control character (< 0x20, 0x7f) replaced by '?'; NULL on OOM. */
char *extid_strip_controls(const char *s);
/* In place version of the above. */
void extid_strip_controls_inplace(char *s);

/* Plausible email address: one '@', non-empty local part and domain with a dot,
 * printable ASCII without spaces, at most 254 bytes. */
bool extid_email_valid(const char *s);

/* Exactly n ASCII digits and nothing else. */
bool extid_code_valid(const char *s, int n);

/* 'A'..'Z' to 'a'..'z', every other byte unchanged, whatever the host's locale. */
char extid_ascii_tolower(char c);

/* ASCII case-insensitive equality; false if either is NULL. */
bool extid_str_ieq(const char *a, const char *b);

/* strdup that returns NULL for NULL. */
char *extid_strdup(const char *s);

/* Text for an errno value in buf: strerror_r, because strerror's buffer may be shared between
 * the host's threads. Returns buf or a static string. */
const char *extid_strerror(int err, char *buf, size_t size);
/* The same with a buffer that lives until the end of the enclosing block. */
#define EXTID_STRERROR(err) extid_strerror((err), (char[128]){ 0 }, 128)

/* Random RFC 4122 version 4 UUID, lower case, into out[37]. false if no randomness. */
bool extid_uuid4(char out[37]);

#endif
