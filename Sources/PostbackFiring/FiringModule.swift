// The libcurl multi driver lives here.
