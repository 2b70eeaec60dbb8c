"""Kubernetes YAML as a front end: `kube play` turns documents into the engine's typed requests
(yamlfile: the documents, plan: what to make, play: making and removing it)."""
