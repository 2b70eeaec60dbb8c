"""An OCI distribution spec v1.1 registry server on aiohttp.

Layout: `names` validates what comes from URLs, `errors` maps failures to the spec's error bodies,
`storage` defines the storage interface and `filesystem` its default backend, `auth` decides who may
do what, the handler modules (`blobs`, `uploads`, `manifests`, `listing`, `referrers`) serve one area
each, and `app` routes requests to them and runs the server. Beside the API: `ui` (the web UI at /),
`metrics` (/metrics for Prometheus) and `config` (`serve --config FILE`).
"""
