"""`churn report` and `churn monitor`: the retention KPI report and drift monitoring."""
