"""Strategy research: parameter sweeps, walk-forward analysis and the overfitting test."""
