"""Data generated from scenes: training triplets, evaluation pairs with ground truth, queries, model samples, scans."""
