"""Kubernetes YAML: `kube generate` (and `kube play`) over the Engine."""
