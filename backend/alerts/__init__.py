"""Team alerts: urgent leads, handoffs, SLA warnings and breaches, dead outbox rows, mismatches."""
