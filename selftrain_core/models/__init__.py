"""Model names, resolution (offline aliases, local folders, hub ids) and loading."""
