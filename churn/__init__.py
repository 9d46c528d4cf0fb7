"""The `churn` command line and its settings."""
