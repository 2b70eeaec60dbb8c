"""Running containers: OCI bundles, the runtime binary (runc/crun), the per-container monitor, rootfs mounts."""
