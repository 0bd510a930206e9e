"""HTTP: the runtime's clients (one per session) and the HTTP/1.1 transport under them."""
