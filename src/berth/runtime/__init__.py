"""Running containers: OCI bundles, the runtime binary (runc/crun), the conmon monitor, rootfs mounts."""
