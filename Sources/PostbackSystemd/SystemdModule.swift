// sd_notify and journald live here.
