"""Image builds: the Dockerfile front end (parser, model, variable expansion)."""
