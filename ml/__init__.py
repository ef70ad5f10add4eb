"""Point-in-time datasets, the GNN and its baselines, training, scoring and the model registry."""
