"""Secret hygiene: finds any code, continuation token, access, refresh or ID token the mock tenant
issued, and any password it received, in text the module produced (syslog lines, the client's
stderr, what the person saw).

Used after every PAM-stack test (conftest's `pam` fixture) and by test_secret_hygiene.py."""

# Pieces shorter than this are not looked for on their own (a JWT header is public and common).
MIN_PIECE = 16


def needles(issued):
    """(kind, text) pairs to search for: each secret whole, each JWT's payload and signature,
    and the first MIN_PIECE characters of every opaque token (a truncated token in a log line is
    still a leak)."""
    out = []
    for kind, values in sorted(issued.items()):
        for v in values:
            if not v:
                continue
            out.append((kind, v))
            if kind == "codes":
                continue
            parts = v.split(".")
            if len(parts) == 3:
                out += [(kind + " (part)", p) for p in parts[1:] if len(p) >= MIN_PIECE]
            elif len(v) > MIN_PIECE:
                out.append((kind + " (prefix)", v[:MIN_PIECE]))
    return out


def find_leaks(issued, texts):
    """[(kind, secret, text)] for every issued secret found in any of texts."""
    texts = [t for t in texts if t]
    everything = "\n\0\n".join(texts)  # one search per secret, however many lines
    found = []
    for kind, secret in needles(issued):
        if secret in everything:
            found += [(kind, secret, t) for t in texts if secret in t]
    return found


def assert_no_leak(issued, texts, where):
    leaks = find_leaks(issued, texts)
    assert not leaks, "%s: %d secret(s) leaked, first: %s %r in %r" % (
        where, len(leaks), leaks[0][0], leaks[0][1], leaks[0][2][:500])
