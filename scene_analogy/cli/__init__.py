"""The command-line layer: the one-line error boundary, flag groups and the per-dataset command bodies."""
