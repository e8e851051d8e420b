"""scanfleet: hyperparameter scans on GPUs, locally or on AWS Batch Spot."""

__version__ = "0.1.0"
