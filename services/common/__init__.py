"""Building blocks shared by the web and api services."""
