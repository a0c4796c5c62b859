"""Evaluation (DESIGN §6): pair sources, the loop over pairs, the metrics and the report of a run."""
