"""Personal data across every area: the registry of where it lives and how erasure treats it."""
