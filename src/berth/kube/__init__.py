"""Kubernetes YAML over the Engine: `kube play` (yamlfile: the documents, plan: what to make,
play: making and removing it) and `kube generate`."""
