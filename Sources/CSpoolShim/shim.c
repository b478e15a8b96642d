#define _GNU_SOURCE
#include <stdio.h>
#include "CSpoolShim.h"

int spool_rename_noreplace(int from_dir, const char *from_name, int to_dir, const char *to_name) {
    return renameat2(from_dir, from_name, to_dir, to_name, RENAME_NOREPLACE);
}
