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

#endif
