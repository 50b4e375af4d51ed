"""Input channels named in credentials.yml."""
