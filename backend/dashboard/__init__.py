"""Read-only staff dashboards and their JSON twins under /api/admin."""
