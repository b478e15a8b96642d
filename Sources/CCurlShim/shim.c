#include "CCurlShim.h"

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
