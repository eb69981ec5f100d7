"""Trust and safety: blocks, reports, the moderation queue and its audit log."""
