"""Entry points and the layer between Hydra configs and the model (configs become frozen objects here)."""
