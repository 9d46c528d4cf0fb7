"""MLflow side: tracking set-up, the model registry, artifacts and the promotion gate."""
