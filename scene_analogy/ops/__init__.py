"""Small geometric ops on points and frames: neighbour search (pure torch) and rigid geometry."""
