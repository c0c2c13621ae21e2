"""The DNS server: configuration, listeners, the query path and the process lifecycle."""
