#ifndef CSPOOLSHIM_H
#define CSPOOLSHIM_H

/// renameat2(2) with RENAME_NOREPLACE: the rename fails with EEXIST instead of replacing an
/// existing target. glibc declares renameat2 only under _GNU_SOURCE, which Swift's Glibc
/// module is not built with. EINVAL where the filesystem does not support the flag.
int spool_rename_noreplace(int from_dir, const char *from_name, int to_dir, const char *to_name);

#endif
