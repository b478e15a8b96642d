#ifndef POSTBACKD_CCURLSHIM_H
#define POSTBACKD_CCURLSHIM_H
// Swift cannot call C variadic functions, so each curl_*_setopt/getinfo argument kind
// gets one typed wrapper here (as swift-corelibs-foundation's CFURLSessionInterface does).
#include <curl/curl.h>

CURLcode pbd_easy_setopt_long(CURL *e, CURLoption o, long v);
CURLcode pbd_easy_setopt_ptr(CURL *e, CURLoption o, const void *v);
CURLcode pbd_easy_setopt_off(CURL *e, CURLoption o, curl_off_t v);
CURLcode pbd_easy_setopt_write(CURL *e, curl_write_callback cb);
CURLcode pbd_easy_setopt_header(CURL *e, curl_write_callback cb);
CURLcode pbd_easy_setopt_opensocket(CURL *e, curl_opensocket_callback cb);
CURLcode pbd_easy_getinfo_long(CURL *e, CURLINFO i, long *out);
CURLcode pbd_easy_getinfo_ptr(CURL *e, CURLINFO i, char **out);
CURLcode pbd_easy_getinfo_off(CURL *e, CURLINFO i, curl_off_t *out);
CURLMcode pbd_multi_setopt_long(CURLM *m, CURLMoption o, long v);
CURLcode pbd_easy_setopt_prereq(CURL *e, curl_prereq_callback cb);
CURLcode pbd_easy_getinfo_certinfo(CURL *e, struct curl_certinfo **out);

// The TLS protocol version of the transfer's connection ("TLSv1.3"), or NULL when it is not
// TLS or the connection is gone. curl reports the OpenSSL session only as an opaque pointer
// (CURLINFO_TLS_SSL_PTR); reading its version takes OpenSSL's own SSL_get_version.
const char *pbd_easy_tls_version(CURL *e);

// The header lines the driver reads, as pbd_header_filtered passes them on.
enum pbd_header_kind { PBD_HEADER_STATUS = 0, PBD_HEADER_LOCATION = 1, PBD_HEADER_RETRY_AFTER = 2 };
// The whole line as curl gave it (CRLF included), which of the lines it is, CURLOPT_HEADERDATA.
typedef void (*pbd_header_callback)(const char *line, size_t length, enum pbd_header_kind kind, void *userdata);

// Installs a C header callback that passes on only the lines the driver reads: status lines
// ("HTTP/..."), Location and Retry-After (names case-insensitive). A typical answer has
// several other header lines, and each call into Swift cost more than this comparison.
CURLcode pbd_easy_setopt_header_filtered(CURL *e, pbd_header_callback forward);

#endif
