"""Staff train the assistant from real conversations: review queue, labels, export, compare."""
