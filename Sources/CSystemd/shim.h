// sd_notify and sd_journal_sendv take no variadic arguments, so Swift calls them directly.
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
