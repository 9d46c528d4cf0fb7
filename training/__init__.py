"""Model training, evaluation metrics and evaluation plots for churn and LTV."""
