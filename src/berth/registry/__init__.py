"""berth's image registry: the server side of the OCI distribution spec v1.1 (see `server/`)."""
