"""Turn replay: a resent chat turn gets its custom actions' first answers, not a second run."""
