#!/bin/bash
# extid-login.sh: email one-time-code login to Microsoft Entra External ID from pam_exec.so,
# written the way an administrator would without pam_extid: curl for the native-auth calls,
# openssl for the RS256 signature, bash for the claims. It is the yardstick of the benchmark in
# tests/bench/, so it is meant to be correct and frugal, not a straw man.
#
# pam_exec cannot prompt, except for the one secret of expose_authtok, which it collects before
# it runs the program. The code only exists once Entra has emailed it, so a login takes two
# pam_exec lines: "start" sends the code, "finish" gets it at pam_exec's "Password: " prompt.
#
#   auth requisite pam_exec.so quiet stdout /bin/bash /usr/local/sbin/extid-login.sh start CONF
#   auth required  pam_exec.so quiet stdout expose_authtok /bin/bash /usr/local/sbin/extid-login.sh finish CONF
#
# CONF is pam_extid.conf (same keys; this script uses authority, client_id, tenant_id, ca_file,
# users, cache_dir, timeout, jwks_ttl, clock_skew, identity_claim). The account must map to
# exactly one address in the users file: there is no way to ask for an email.
# "start" keeps the flow in CACHE_DIR/pending/<pid of the PAM process> for "finish".
# Discovery and JWKS are cached in CACHE_DIR and refreshed during "start" when stale, on the
# same connections as the API calls, so the person never waits for them after the code.
# Secrets (continuation token, code, tokens) never appear on a command line.
# A shell has no JSON parser: a token or document holding any backslash (an escaped character,
# say in a display name) is refused, so that no escaped quote can fake a member.
# "check && check && … || fail" chains are meant: any false step fails the login.
# shellcheck disable=SC2015
set -u -o pipefail
shopt -s lastpipe # "… | run_curl" fills bodies[] in this shell
umask 077
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C

phase=${1:-} conf=${2:-}
start_time=$EPOCHSECONDS

log() { logger -t extid-login -p "authpriv.$1" -- "$2" 2>/dev/null || true; }
# The person only learns that it failed; the log says why.
fail() { log notice "user=${PAM_USER:--}: $1"; printf '%s\n' "${2:-Authentication failed.}"; exit 1; }
unavailable() { fail "$1" "The sign-in service cannot be reached; try again later."; }

read_config() {
    local line key value
    authority='' client_id='' tenant_id='' ca_file='' users=/etc/security/pam_extid.users
    cache_dir=/var/cache/extid-login timeout=10 jwks_ttl=86400 clock_skew=300
    identity_claim=preferred_username
    [[ -f $conf && -O $conf && ! -L $conf ]] || fail "config $conf: missing or not owned by root"
    while IFS= read -r line || [[ -n $line ]]; do
        line=${line%%#*}
        [[ $line =~ ^[[:space:]]*([a-z_]+)[[:space:]]*=[[:space:]]*([^[:space:]]+)[[:space:]]*$ ]] \
            || continue
        key=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
        case $key in
        authority) authority=$value ;;
        client_id) client_id=$value ;;
        tenant_id) tenant_id=$value ;;
        ca_file) ca_file=$value ;;
        users) users=$value ;;
        cache_dir) cache_dir=$value ;;
        timeout) timeout=$value ;;
        jwks_ttl) jwks_ttl=$value ;;
        clock_skew) clock_skew=$value ;;
        identity_claim) identity_claim=$value ;;
        esac
    done <"$conf"
    [[ $authority == https://* && -n $client_id ]] || fail "config $conf: authority or client_id"
    [[ $timeout =~ ^[0-9]+$ && $jwks_ttl =~ ^[0-9]+$ && $clock_skew =~ ^[0-9]+$ ]] ||
        fail "config $conf: timeout, jwks_ttl and clock_skew must be numbers"
    [[ $identity_claim == preferred_username || $identity_claim == email ]] ||
        fail "config $conf: identity_claim"
    pending=$cache_dir/pending
    [[ -d $pending ]] || mkdir -p "$pending" || fail "cannot create $pending" # 0700: umask
}

# The one address mapped to PAM_USER.
mapped_email() {
    local line words re='^[A-Za-z0-9.!#$%&'\''*+=?^_`{|}~-]{1,64}@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$'
    [[ -f $users && -O $users ]] || fail "users file $users: missing or not owned by root"
    while IFS= read -r line || [[ -n $line ]]; do
        read -r -a words <<<"${line%%#*}"
        [[ ${#words[@]} -gt 0 && ${words[0]} == "$PAM_USER" ]] || continue
        [[ ${#words[@]} -eq 2 && ${words[1]} != *'*'* ]] ||
            fail "$PAM_USER must map to exactly one address for pam_exec"
        email=${words[1]}
        [[ $email =~ $re ]] ||
            fail "$users: $PAM_USER: not an email address"
        return 0
    done <"$users"
    fail "$PAM_USER is not in $users"
}

# JSON without a parser: only for documents with no backslash at all (so no escaped quote can
# fake a member), and a member must occur exactly once.
json_once() { # JSON KEY VALUE-REGEX → REPLY
    local re="\"$2\"[[:space:]]*:[[:space:]]*$3" rest
    [[ $1 =~ $re ]] || return 1
    REPLY=${BASH_REMATCH[1]}
    rest=${1/"${BASH_REMATCH[0]}"/}
    [[ ! $rest =~ \"$2\"[[:space:]]*: ]]
}
json_str() { [[ $1 != *\\* ]] && json_once "$1" "$2" '"([^"]*)"'; }
json_num() { [[ $1 != *\\* ]] && json_once "$1" "$2" '(-?[0-9]+)[[:space:]]*[,}]'; }
# Error answers carry \r\n in error_description; their codes are read leniently, only to log.
json_word() { local re="\"$2\"[[:space:]]*:[[:space:]]*\"([a-z_]*)\""; [[ $1 =~ $re ]] && REPLY=${BASH_REMATCH[1]}; }

# Runs one curl (all its requests share one connection) on the config given on stdin; fills
# bodies[] and statuses[]. Each request's config must end with request_end.
request_end=$'write-out = "\\n<<extid-status %{http_code}>>\\n"'
curl_common() {
    printf '%s\n' 'silent' 'show-error' 'proto = "=https"' 'tlsv1.2' \
        "max-time = $timeout" "header = \"client-request-id: $request_id\"" \
        'header = "Accept: application/json"'
    # Without ca_file, curl's own default (the system bundle) applies.
    [ -z "$ca_file" ] || printf 'cacert = "%s"\n' "$ca_file"
}
run_curl() {
    local out rest m=$'\n<<extid-status '
    out=$(curl --config -) || return 1
    bodies=() statuses=()
    rest=$out$'\n'
    while [[ $rest == *"$m"* ]]; do
        bodies+=("${rest%%"$m"*}")
        rest=${rest#*"$m"}
        statuses+=("${rest:0:3}")
        rest=${rest#*$'>>\n'}
    done
}
post_form() { # URL NAME=VALUE... → curl config lines of one POST
    local f
    curl_common
    printf 'url = "%s"\n' "$1"
    shift
    for f in "$@"; do printf 'data-urlencode = "%s"\n' "$f"; done
    printf '%s\n' "$request_end"
}
get_url() {
    curl_common
    printf 'url = "%s"\n%s\n' "$1" "$request_end"
}
then_get() { # a further request on the same connection
    printf 'next\n'
    get_url "$1"
}

b64url_decode() {
    local s=${1//-/+}
    s=${s//_//}
    case $((${#s} % 4)) in 2) s+='==' ;; 3) s+='=' ;; 1) return 1 ;; esac
    printf '%s' "$s" | base64 -d
}

# Signing keys: CACHE_DIR/signing = "<fetch time> <issuer> <jwks_uri>", CACHE_DIR/jwks.json,
# and the DER public key of each kid used, derived on first use.
signing_cached() { # sets issuer, jwks_uri and fetched
    [[ -f $cache_dir/signing && -f $cache_dir/jwks.json ]] || return 1
    read -r fetched issuer jwks_uri <"$cache_dir/signing" && [[ $fetched =~ ^[0-9]+$ ]]
}
signing_fresh() { signing_cached && ((start_time - fetched < jwks_ttl)); }
store_signing() { # DISCOVERY-JSON JWKS-JSON
    json_str "$1" issuer && issuer=$REPLY && [[ $issuer == https://* ]] ||
        unavailable "discovery: no https issuer"
    [[ $2 == *'"keys"'* && $2 != *\\* ]] || unavailable "JWKS: no keys"
    printf '%s' "$2" >"$cache_dir/jwks.json.$$" &&
        printf '%s %s %s\n' "$start_time" "$issuer" "$jwks_uri" >"$cache_dir/signing.$$" &&
        rm -f "$cache_dir"/key-* && mv -f "$cache_dir/jwks.json.$$" "$cache_dir/jwks.json" &&
        mv -f "$cache_dir/signing.$$" "$cache_dir/signing" || log warning "cannot write $cache_dir"
}
jwks_uri_from() {
    json_str "$1" jwks_uri && jwks_uri=$REPLY && [[ $jwks_uri == https://* ]] ||
        unavailable "discovery: no https jwks_uri"
}

api_error() { # WHAT STATUS BODY
    local error='' sub=''
    json_word "$3" error && error=$REPLY
    json_word "$3" suberror && sub=$REPLY
    case $2 in 5* | 429) unavailable "$1: HTTP $2 $error" ;; esac
    fail "$1: HTTP $2 ${error:-?} ${sub}"
}

start() {
    local ct label length disc='' refresh=0
    mapped_email
    signing_fresh || refresh=1
    # initiate (+ discovery when the cache is stale), then challenge (+ JWKS): two connections.
    { post_form "$authority/oauth2/v2.0/initiate" "client_id=$client_id" "username=$email" \
        "challenge_type=oob redirect"
      if ((refresh)); then then_get "$authority/v2.0/.well-known/openid-configuration"; fi; } |
        run_curl ||
        unavailable "initiate: transport error"
    [[ ${statuses[0]:-} == 200 ]] || api_error initiate "${statuses[0]:-000}" "${bodies[0]:-}"
    json_str "${bodies[0]}" continuation_token && ct=$REPLY && [[ $ct =~ ^[A-Za-z0-9._~+/=-]+$ ]] ||
        fail "initiate: no continuation token (browser required?)"
    if ((refresh)); then
        [[ ${statuses[1]:-} == 200 ]] || unavailable "discovery: HTTP ${statuses[1]:-000}"
        disc=${bodies[1]}
        jwks_uri_from "$disc"
    fi
    { post_form "$authority/oauth2/v2.0/challenge" "client_id=$client_id" \
        "continuation_token=$ct" "challenge_type=oob redirect"
      if ((refresh)); then then_get "$jwks_uri"; fi; } | run_curl ||
        unavailable "challenge: transport error"
    [[ ${statuses[0]:-} == 200 ]] || api_error challenge "${statuses[0]:-000}" "${bodies[0]:-}"
    json_str "${bodies[0]}" challenge_type && [[ $REPLY == oob ]] ||
        fail "challenge: not an email code (browser or password required)"
    json_str "${bodies[0]}" continuation_token && ct=$REPLY && [[ $ct =~ ^[A-Za-z0-9._~+/=-]+$ ]] &&
        json_num "${bodies[0]}" code_length && length=$REPLY && ((length > 0 && length <= 16)) &&
        json_str "${bodies[0]}" challenge_target_label && label=${REPLY//[^[:print:]]/} ||
        fail "challenge: malformed answer"
    if ((refresh)); then
        [[ ${statuses[1]:-} == 200 ]] || unavailable "JWKS: HTTP ${statuses[1]:-000}"
        store_signing "$disc" "${bodies[1]}"
    fi
    printf '%s %s %s\n' "$email" "$length" "$ct" >"$pending/$PPID" || fail "cannot write $pending"
    printf 'Code emailed to %s (%s digits).\n' "$label" "$length"
}

# The DER public key for KID, from the cached JWKS; derived once per kid and cached.
signing_key() {
    local kid=$1 jwks rest obj n e
    key=$cache_dir/key-$kid.der
    [[ -f $key ]] && return 0
    jwks=$(<"$cache_dir/jwks.json") || return 1
    rest=$jwks
    while [[ $rest =~ \{([^{}]*)\} ]]; do
        obj="{${BASH_REMATCH[1]}}"
        rest=${rest/"${BASH_REMATCH[0]}"/}
        json_str "$obj" kid && [[ $REPLY == "$kid" ]] || continue
        json_str "$obj" kty && [[ $REPLY == RSA ]] || return 1
        json_str "$obj" n && n=$(b64url_decode "$REPLY" | od -An -v -tx1 | tr -d ' \n') || return 1
        json_str "$obj" e && e=$(b64url_decode "$REPLY" | od -An -v -tx1 | tr -d ' \n') || return 1
        [[ ${#n} -ge 512 ]] || return 1 # RSA keys under 2048 bits are refused
        # SubjectPublicKeyInfo { rsaEncryption, BIT STRING { RSAPublicKey { n, e } } }
        openssl asn1parse -noout -out "$key.$$" -genconf <(printf '%s\n' \
            'asn1=SEQUENCE:spki' '[spki]' 'alg=SEQUENCE:alg' 'key=BITWRAP,SEQUENCE:rsa' \
            '[alg]' 'oid=OID:rsaEncryption' 'null=NULL' '[rsa]' "n=INTEGER:0x$n" \
            "e=INTEGER:0x$e") >/dev/null && mv -f "$key.$$" "$key" || return 1
        return 0
    done
    return 2 # kid not published
}

refetch_jwks() {
    get_url "$jwks_uri" | run_curl && [[ ${statuses[0]:-} == 200 ]] ||
        unavailable "JWKS refetch failed"
    [[ ${bodies[0]} == *'"keys"'* && ${bodies[0]} != *\\* ]] || unavailable "JWKS: no keys"
    printf '%s' "${bodies[0]}" >"$cache_dir/jwks.json.$$" && rm -f "$cache_dir"/key-* &&
        mv -f "$cache_dir/jwks.json.$$" "$cache_dir/jwks.json" || unavailable "cannot write JWKS"
}

verify() { # ID-TOKEN
    local h p s header claims kid iss aud tid exp nbf iat who rc now=$start_time
    [[ $1 =~ ^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$ ]] || fail "ID token: not a JWS"
    h=${BASH_REMATCH[1]} p=${BASH_REMATCH[2]} s=${BASH_REMATCH[3]}
    header=$(b64url_decode "$h") && claims=$(b64url_decode "$p") || fail "ID token: bad base64"
    json_str "$header" alg && [[ $REPLY == RS256 ]] || fail "ID token: alg is not RS256"
    json_str "$header" kid && kid=$REPLY && [[ $kid =~ ^[A-Za-z0-9._-]{1,128}$ ]] ||
        fail "ID token: no usable kid"
    # Fresh when "start" ran; it may have aged past jwks_ttl while the person typed.
    signing_cached || unavailable "no signing keys"
    signing_key "$kid"
    rc=$?
    if ((rc == 2)); then # an unknown kid: the tenant may have rotated keys, look once more
        refetch_jwks
        signing_key "$kid" || fail "ID token signed by a key the tenant does not publish"
    elif ((rc != 0)); then
        fail "JWKS: key $kid unusable"
    fi
    openssl dgst -sha256 -verify "$key" -keyform DER -signature <(b64url_decode "$s") \
        < <(printf '%s.%s' "$h" "$p") >/dev/null 2>&1 || fail "ID token: bad signature"
    json_str "$claims" iss && iss=$REPLY && [[ $iss == "$issuer" ]] || fail "ID token: issuer"
    json_str "$claims" aud && aud=$REPLY && [[ $aud == "$client_id" ]] || fail "ID token: audience"
    if json_str "$claims" azp; then # one audience: azp optional, but it must be us
        [[ $REPLY == "$client_id" ]] || fail "ID token: azp"
    elif [[ $claims =~ \"azp\"[[:space:]]*: ]]; then
        fail "ID token: azp is not a string"
    fi
    if [[ -n $tenant_id ]]; then
        json_str "$claims" tid && tid=$REPLY && [[ $tid == "$tenant_id" ]] || fail "ID token: tid"
    fi
    json_num "$claims" exp && exp=$REPLY && ((exp + clock_skew > now)) || fail "ID token: expired"
    json_num "$claims" iat && iat=$REPLY && ((iat - clock_skew <= now)) || fail "ID token: iat"
    if json_num "$claims" nbf; then
        nbf=$REPLY
        ((nbf - clock_skew <= now)) || fail "ID token: not yet valid"
    elif [[ $claims =~ \"nbf\"[[:space:]]*: ]]; then
        fail "ID token: nbf is not a number"
    fi
    json_str "$claims" "$identity_claim" && who=$REPLY && [[ ${who,,} == "${email,,}" ]] ||
        fail "ID token: $identity_claim is not $email"
}

finish() {
    local code='' length ct state
    IFS= read -r -d '' code || true # pam_exec writes the secret and a NUL
    [[ -f $pending/$PPID ]] || fail "no login in progress for this process"
    state=$(<"$pending/$PPID")
    rm -f "$pending/$PPID"
    read -r email length ct <<<"$state"
    [[ $code =~ ^[0-9]+$ && ${#code} -eq $length ]] || fail "code is not $length digits"
    post_form "$authority/oauth2/v2.0/token" "client_id=$client_id" "continuation_token=$ct" \
        "grant_type=oob" "oob=$code" "scope=openid profile" | run_curl ||
        unavailable "token: transport error"
    code='' ct=''
    if [[ ${statuses[0]:-} != 200 ]]; then
        json_word "${bodies[0]:-}" suberror && [[ $REPLY == invalid_oob_value ]] &&
            fail "wrong code" "Wrong code."
        api_error token "${statuses[0]:-000}" "${bodies[0]:-}"
    fi
    json_str "${bodies[0]}" id_token || fail "token: no ID token (browser required?)"
    verify "$REPLY"
    log info "login granted: user=$PAM_USER email=$email rhost=${PAM_RHOST:--} service=${PAM_SERVICE:--}"
}

[[ ${PAM_TYPE:-} == auth && -n ${PAM_USER:-} ]] || fail "run me from pam_exec.so (auth)"
read_config
# One id per process, for the tenant's logs; uuidgen would cost a process.
printf -v request_id '%08x-%04x-4%03x-a%03x-%06x%06x' "$SRANDOM" "$((SRANDOM & 0xffff))" \
    "$((SRANDOM & 0xfff))" "$((SRANDOM & 0xfff))" "$((SRANDOM & 0xffffff))" \
    "$((SRANDOM & 0xffffff))"
case $phase in
start) start ;;
finish) finish ;;
*) fail "usage: extid-login.sh start|finish CONFIG" ;;
esac
exit 0
