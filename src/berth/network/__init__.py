"""Container networks: the bridge that --network bridge and -p use."""
