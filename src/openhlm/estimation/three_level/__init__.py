"""Three-level models (HLM3): design, nested sufficient statistics, exact REML/ML."""
