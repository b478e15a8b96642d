#include "CCurlShim.h"
#include <stdatomic.h>
#include <strings.h>
#include <openssl/ssl.h>

CURLcode pbd_easy_setopt_long(CURL *e, CURLoption o, long v) { return curl_easy_setopt(e, o, v); }
CURLcode pbd_easy_setopt_ptr(CURL *e, CURLoption o, const void *v) { return curl_easy_setopt(e, o, v); }
CURLcode pbd_easy_setopt_off(CURL *e, CURLoption o, curl_off_t v) { return curl_easy_setopt(e, o, v); }
CURLcode pbd_easy_setopt_write(CURL *e, curl_write_callback cb) { return curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, cb); }
CURLcode pbd_easy_setopt_header(CURL *e, curl_write_callback cb) { return curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, cb); }
CURLcode pbd_easy_setopt_opensocket(CURL *e, curl_opensocket_callback cb) { return curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, cb); }
CURLcode pbd_easy_getinfo_long(CURL *e, CURLINFO i, long *out) { return curl_easy_getinfo(e, i, out); }
CURLcode pbd_easy_getinfo_ptr(CURL *e, CURLINFO i, char **out) { return curl_easy_getinfo(e, i, out); }
CURLcode pbd_easy_getinfo_off(CURL *e, CURLINFO i, curl_off_t *out) { return curl_easy_getinfo(e, i, out); }
CURLMcode pbd_multi_setopt_long(CURLM *m, CURLMoption o, long v) { return curl_multi_setopt(m, o, v); }
CURLcode pbd_easy_setopt_prereq(CURL *e, curl_prereq_callback cb) { return curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, cb); }
CURLcode pbd_easy_getinfo_certinfo(CURL *e, struct curl_certinfo **out) { return curl_easy_getinfo(e, CURLINFO_CERTINFO, out); }

const char *pbd_easy_tls_version(CURL *e) {
    struct curl_tlssessioninfo *info = NULL;
    if (curl_easy_getinfo(e, CURLINFO_TLS_SSL_PTR, &info) != CURLE_OK || !info) return NULL;
    if (info->backend != CURLSSLBACKEND_OPENSSL || !info->internals) return NULL;
    return SSL_get_version((const SSL *)info->internals);
}

// One Swift callback serves every handle; it is set before any transfer and never changes.
static _Atomic(pbd_header_callback) pbd_header_forward;

static int pbd_has_prefix(const char *line, size_t n, const char *prefix, size_t p) {
    return n >= p && strncasecmp(line, prefix, p) == 0;
}

static size_t pbd_header_filter(char *line, size_t size, size_t count, void *userdata) {
    size_t n = size * count;
    enum pbd_header_kind kind;
    if (n == 0) return n;
    switch (line[0] | 0x20) {  // first letter, lower-cased, so most lines cost one test
    case 'h': if (!pbd_has_prefix(line, n, "http/", 5)) return n; kind = PBD_HEADER_STATUS; break;
    case 'l': if (!pbd_has_prefix(line, n, "location:", 9)) return n; kind = PBD_HEADER_LOCATION; break;
    case 'r': if (!pbd_has_prefix(line, n, "retry-after:", 12)) return n; kind = PBD_HEADER_RETRY_AFTER; break;
    default: return n;
    }
    atomic_load_explicit(&pbd_header_forward, memory_order_relaxed)(line, n, kind, userdata);
    return n;
}

CURLcode pbd_easy_setopt_header_filtered(CURL *e, pbd_header_callback forward) {
    atomic_store_explicit(&pbd_header_forward, forward, memory_order_relaxed);
    return curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, pbd_header_filter);
}
