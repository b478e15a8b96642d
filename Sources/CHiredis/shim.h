// redisCommandArgv and redisAppendCommandArgv take no variadic arguments, so Swift calls
// hiredis directly; the printf-style redisCommand is never used.
#include <hiredis/hiredis.h>
