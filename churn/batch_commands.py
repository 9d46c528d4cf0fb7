"""`churn score` and `churn campaign`: nightly batch scoring and budgeted campaigns."""
