"""Image archives in and out of the store: docker-archive, oci-archive and OCI layout directories."""
