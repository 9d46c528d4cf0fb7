"""Evaluation: churn and LTV metrics, their figures, and the model card."""
