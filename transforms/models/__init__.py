"""Models: specs and loading, and the RunInference handlers of every model stage."""
