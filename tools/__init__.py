"""What the agent can do: service lookup (hybrid retrieval), booking, progress, handoff."""
