/* Secret wiping, control-character stripping, address and code syntax checks, ASCII case
 * folding and strerror without global state. */
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define EXTID_EMAIL_MAX 254

void extid_free_secret(char *s)
{
    if (!s)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

void extid_free_secret_n(void *p, size_t n)
{
    if (!p)
        return;
    explicit_bzero(p, n);
    free(p);
}

static bool is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF), 0 if there is none. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n, i;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4;
    else
        return 0;
    for (i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) /* stops at the terminating NUL too */
            return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f)
        || (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
        return 0;
    return n;
}

/* C0 controls, DEL, C1 controls (U+0080..U+009F, CSI among them) and bytes that are not UTF-8
 * (an 8-bit terminal reads 0x9b as CSI too) become '?', byte for byte; other text stays. */
void extid_strip_controls_inplace(char *s)
{
    unsigned char *p = (unsigned char *)s;

    if (!s)
        return;
    while (*p) {
        size_t n = utf8_len(p);

        if (n == 0 || (n == 1 && is_control(*p)) || (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)) {
            n = n ? n : 1;
            memset(p, '?', n);
        }
        p += n;
    }
}

char *extid_strip_controls(const char *s)
{
    char *copy;

    if (!s)
        return NULL;
    copy = strdup(s);
    extid_strip_controls_inplace(copy);
    return copy;
}

static bool email_char_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '@' && c != '"' && c != '\\' && c != '<' && c != '>'
        && c != '(' && c != ')' && c != ',' && c != ';' && c != ':' && c != '[' && c != ']';
}

bool extid_email_valid(const char *s)
{
    const char *at, *p, *dot;

    if (!s || strlen(s) > EXTID_EMAIL_MAX)
        return false;
    at = strchr(s, '@');
    if (!at || at == s || strchr(at + 1, '@'))
        return false;
    if (at == s + 1 && s[0] == '*') /* the users file's wildcard, never an address */
        return false;
    for (p = s; *p; p++)
        if (p != at && !email_char_ok((unsigned char)*p))
            return false;
    dot = strchr(at + 1, '.');
    /* The domain needs a dot that neither starts nor ends it, and no empty labels. */
    if (!dot || dot == at + 1 || at[1] == '.' || s[strlen(s) - 1] == '.' || strstr(at, ".."))
        return false;
    return true;
}

bool extid_code_valid(const char *s, int n)
{
    int i;

    if (!s || n <= 0)
        return false;
    for (i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return s[n] == '\0';
}

char extid_ascii_tolower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* ASCII only, whatever the host's locale (su and sudo call setlocale; strcasecmp follows it). */
bool extid_str_ieq(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    for (; *a && *b; a++, b++)
        if (extid_ascii_tolower(*a) != extid_ascii_tolower(*b))
            return false;
    return *a == *b;
}

const char *extid_strerror(int err, char *buf, size_t size)
{
    return strerror_r(err, buf, size); /* the GNU variant: returns the text to use */
}

char *extid_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

bool extid_uuid4(char out[37])
{
    unsigned char b[16];
    ssize_t got;

    do
        got = getrandom(b, sizeof b, 0);
    while (got < 0 && errno == EINTR);
    if (got != (ssize_t)sizeof b)
        return false;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return true;
}
