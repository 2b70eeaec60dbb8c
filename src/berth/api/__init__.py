"""The Docker Engine API (`berth system service`): docker's CLI, compose, docker-py and testcontainers
drive berth through it. A front end like cli/: it parses docker's requests into the engine's typed
requests and presents what the engine returns in docker's JSON shapes."""
