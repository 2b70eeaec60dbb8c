"""Client side of the distribution API: pull, push, login against any registry."""
