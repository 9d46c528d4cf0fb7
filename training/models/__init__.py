"""Model families: churn and LTV estimators, BTYD, baselines, uplift attribution, feature matrix."""
